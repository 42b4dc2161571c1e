"""file exporter: JSON lines with a `signal` field, rotation once to `.1`, bounded disk use."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from extension.exporters.base import Outcome
from extension.exporters.file import FileExporter
from extension.signals import Signals
from tests.exporters import samples


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_writes_every_signal_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    exporter = FileExporter(str(path), 1 << 20)
    result = await exporter.export(samples.signals(n_spans=2, n_logs=3, n_metrics=4), samples.RESOURCE, 1.0)
    assert result.ok and result.rejected == 0
    recs = lines(path)
    assert [r["signal"] for r in recs].count("span") == 2
    assert [r["signal"] for r in recs].count("log") == 3
    assert [r["signal"] for r in recs].count("metric") == 4
    span = next(r for r in recs if r["signal"] == "span")
    assert span["traceId"] == samples.TRACE_ID.hex()
    assert span["resource"] == dict(samples.RESOURCE.attributes)
    await exporter.export(Signals(logs=(samples.log(9),)), samples.RESOURCE, 1.0)
    assert len(lines(path)) == 10  # appended


async def test_rotates_once_and_never_exceeds_twice_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    max_bytes = 4000
    exporter = FileExporter(str(path), max_bytes)
    for i in range(60):
        await exporter.export(Signals(logs=(samples.log(i),)), samples.RESOURCE, 1.0)
        assert size(path) <= max_bytes
        assert size(path) + size(Path(str(path) + ".1")) <= 2 * max_bytes
    assert size(Path(str(path) + ".1")) > 0
    newest = lines(path)
    assert newest[-1]["body"] == "line 59"  # the newest data is kept
    assert not (tmp_path / "out.jsonl.2").exists()


async def test_a_record_larger_than_the_bound_is_rejected_not_written(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    exporter = FileExporter(str(path), 2000)
    big = samples.log(0, body="x" * 5000)
    result = await exporter.export(Signals(logs=(big, samples.log(1))), samples.RESOURCE, 1.0)
    assert result.ok and result.rejected == 1
    assert [r["body"] for r in lines(path)] == ["line 1"]


async def test_unwritable_path_is_retryable(tmp_path: Path) -> None:
    exporter = FileExporter(str(tmp_path / "missing" / "out.jsonl"), 1 << 20)
    result = await exporter.export(Signals(logs=(samples.log(0),)), samples.RESOURCE, 1.0)
    assert result.outcome.value == "retryable"


async def test_the_file_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    """It holds the function's logs: 0600, whatever the umask allows more (issue 18 item 6)."""
    path = tmp_path / "out.jsonl"
    old_umask = os.umask(0o022)
    try:
        result = await FileExporter(str(path), 1 << 20).export(samples.signals(), samples.RESOURCE, 1.0)
    finally:
        os.umask(old_umask)
    assert result.ok
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_symbolic_link_at_the_path_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("precious\n")
    path = tmp_path / "out.jsonl"
    path.symlink_to(target)
    exporter = FileExporter(str(path), 1 << 20)
    result = await exporter.export(samples.signals(), samples.RESOURCE, 1.0)
    assert result.outcome is Outcome.PERMANENT and "symbolic link" in result.reason
    assert target.read_text() == "precious\n"
    assert path.is_symlink()

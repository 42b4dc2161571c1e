"""Secret header references (pure parsing and substitution) and the destination factory."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from emulator.backends.otlp_receivers import OtlpHttpReceiver
from extension.config import from_env
from extension.exporters import factory
from extension.exporters.factory import build_destinations
from extension.exporters.secret_refs import CachingResolver, SecretRef, SecretRefError, find_refs, has_refs
from extension.stats import Stats
from tests.exporters import samples

SECRET = "s3cr3t-VALUE-never-logged"


class FakeSecrets:
    def __init__(self, values: dict[tuple[str, str], str]) -> None:
        self.values = values
        self.calls: list[tuple[str, str]] = []
        self.fresh_calls: list[tuple[str, str]] = []

    async def __call__(self, service: str, name: str, *, fresh: bool = False) -> str:
        (self.fresh_calls if fresh else self.calls).append((service, name))
        if (service, name) not in self.values:
            raise KeyError(f"{name} not found (value would be {SECRET})")
        return self.values[(service, name)]


def test_find_refs_forms() -> None:
    assert find_refs("plain") == []
    assert find_refs("${secretsmanager:my/key}") == [
        SecretRef("secretsmanager", "my/key", None, "${secretsmanager:my/key}")
    ]
    (bearer,) = find_refs("Bearer ${secretsmanager:k}")
    assert (bearer.service, bearer.name) == ("secretsmanager", "k")
    (ssm,) = find_refs("${ssm:/my/param}")
    assert (ssm.service, ssm.name) == ("ssm", "/my/param")
    (js,) = find_refs("${secretsmanager:name#apiKey}")
    assert (js.name, js.json_key) == ("name", "apiKey")
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:otlp-AbCdEf"
    (by_arn,) = find_refs(f"${{secretsmanager:{arn}}}")
    assert by_arn.name == arn
    assert [r.name for r in find_refs("${ssm:a}-${ssm:b}")] == ["a", "b"]
    assert find_refs("${vault:x}") == [] and find_refs("$secretsmanager:x") == []
    assert has_refs((("a", "1"), ("b", "x ${ssm:p}")))
    assert not has_refs((("a", "1"),))


async def test_substitution_json_keys_and_single_resolution() -> None:
    secrets = FakeSecrets(
        {
            ("secretsmanager", "k"): "abc",
            ("secretsmanager", "json"): '{"apiKey": "xyz", "n": 5}',
            ("ssm", "/p"): "q",
        }
    )
    resolver = CachingResolver(secrets)
    headers = (
        ("authorization", "Bearer ${secretsmanager:k}"),
        ("x-api-key", "${secretsmanager:json#apiKey}"),
        ("x-n", "${secretsmanager:json#n}"),
        ("x-both", "${secretsmanager:k}/${ssm:/p}"),
        ("x-plain", "v"),
    )
    out = await resolver.headers(headers)
    assert out == (
        ("authorization", "Bearer abc"),
        ("x-api-key", "xyz"),
        ("x-n", "5"),
        ("x-both", "abc/q"),
        ("x-plain", "v"),
    )
    assert sorted(secrets.calls) == [("secretsmanager", "json"), ("secretsmanager", "k"), ("ssm", "/p")]


async def test_resolution_errors_name_the_reference_not_the_value() -> None:
    resolver = CachingResolver(FakeSecrets({("secretsmanager", "notjson"): SECRET}))
    for value in ("${secretsmanager:missing}", "${secretsmanager:notjson#k}"):
        with pytest.raises(SecretRefError) as info:
            await resolver.substitute(value)
        assert SECRET not in str(info.value)
        assert "${secretsmanager:" in str(info.value)


def _settings(tmp_path: Path, endpoint: str, headers: str, exporters: str = "otlp,file"):  # type: ignore[no-untyped-def]
    return from_env(
        {
            "AWS_LAMBDA_FUNCTION_NAME": "fn",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_HEADERS": headers,
            "SIDECAR_EXPORTERS": exporters,
            "SIDECAR_FILE_PATH": str(tmp_path / "out.jsonl"),
        }
    )


def test_build_destinations_in_configured_order(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "http://127.0.0.1:1", "a=b", "file,otlp,stdout")
    dests = build_destinations(settings, Stats(), None)
    assert [d.name for d in dests] == ["file", "otlp", "stdout"]
    assert all(d.buffer.max_items == settings.pipeline.buffer_max_items for d in dests)


@pytest.mark.integration
async def test_secret_header_is_resolved_once_and_sent(tmp_path: Path) -> None:
    secrets = FakeSecrets({("secretsmanager", "otlp/key"): "resolved-key"})
    with OtlpHttpReceiver() as rx:
        settings = _settings(tmp_path, rx.endpoint, "x-api-key=${secretsmanager:otlp/key},x-plain=1")
        stats = Stats()
        (otlp, _file) = build_destinations(settings, stats, secrets, resource=samples.RESOURCE)
        await otlp.start()
        otlp.offer(samples.signals())
        await otlp.flush(asyncio.get_running_loop().time() + 5)
        assert len(rx.spans()) == 2
        assert {r.headers["x-api-key"] for r in rx.requests} == {"resolved-key"}
        assert secrets.calls == [("secretsmanager", "otlp/key")]  # once, for all three signals
        await otlp.shutdown(asyncio.get_running_loop().time() + 1)


async def test_unresolvable_secret_disables_only_that_destination(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, "http://127.0.0.1:1", "x-api-key=${secretsmanager:absent}")
    stats = Stats()
    otlp, file = build_destinations(settings, stats, FakeSecrets({}), resource=samples.RESOURCE)
    with caplog.at_level(logging.INFO, logger="lambda_sidecar"):
        await asyncio.gather(otlp.start(), file.start())
    assert otlp.disabled and not file.disabled
    assert stats.get("destination_disabled", "otlp") == 1
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "disabled" in m]) == 1
    assert any("${secretsmanager:absent}" in m for m in messages)
    assert all(SECRET not in m for m in messages)
    for d in (otlp, file):
        d.offer(samples.signals())
    await file.flush(asyncio.get_running_loop().time() + 5)
    assert file.pending_items() == 0
    assert stats.get("dropped", "destination_disabled") > 0


async def test_references_without_a_resolver_disable_the_destination(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "http://127.0.0.1:1", "x-api-key=${ssm:/key}")
    (otlp, _) = build_destinations(settings, Stats(), None)
    await otlp.start()
    assert otlp.disabled and "no secret resolver" in otlp.disabled


async def test_hanging_resolver_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "RESOLVE_TIMEOUT_S", 0.1)

    async def hang(service: str, name: str) -> str:
        await asyncio.sleep(60)
        return ""

    settings = _settings(tmp_path, "http://127.0.0.1:1", "x-api-key=${ssm:/key}")
    (otlp, _) = build_destinations(settings, Stats(), hang)
    await asyncio.wait_for(otlp.start(), timeout=10)
    assert otlp.disabled and "timed out" in otlp.disabled


@pytest.mark.parametrize("bad", ["line\r\nX-Injected: 1", "trailing\n", "nul\x00"])
async def test_a_secret_that_cannot_be_a_header_disables_once_naming_the_reference(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bad: str
) -> None:
    secret = SECRET + bad
    settings = _settings(tmp_path, "http://127.0.0.1:1", "x-api-key=${secretsmanager:otlp/bad}")
    stats = Stats()
    (otlp, _) = build_destinations(
        settings, stats, FakeSecrets({("secretsmanager", "otlp/bad"): secret}), resource=samples.RESOURCE
    )
    with caplog.at_level(logging.INFO, logger="lambda_sidecar"):
        await otlp.start()
        otlp.offer(samples.signals())
        await otlp.flush(asyncio.get_running_loop().time() + 1)
    assert otlp.disabled and stats.get("destination_disabled", "otlp") == 1
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "disabled" in m]) == 1
    assert any("${secretsmanager:otlp/bad}" in m and "CR, LF or NUL" in m for m in messages), messages
    assert all(SECRET not in m for m in messages)


class WallClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.integration
async def test_rejected_credentials_are_re_resolved_fresh_at_most_once_per_ttl(tmp_path: Path) -> None:
    secrets = FakeSecrets({("secretsmanager", "otlp/key"): "old-key"})
    clock = WallClock()
    with OtlpHttpReceiver() as rx:
        settings = _settings(tmp_path, rx.endpoint, "x-api-key=${secretsmanager:otlp/key}")
        stats = Stats()
        (otlp, _) = build_destinations(settings, stats, secrets, resource=samples.RESOURCE)
        deferred = otlp.exporter
        assert isinstance(deferred, factory.DeferredExporter)
        deferred._clock = clock
        await otlp.start()
        secrets.values[("secretsmanager", "otlp/key")] = "new-key"  # rotated after start
        rx.status(401, times=1)  # one of the three signals is refused with the old key
        otlp.offer(samples.signals())
        await otlp.flush(asyncio.get_running_loop().time() + 5)
        assert otlp.pending_items() == 0 and stats.total("dropped") == 0
        assert secrets.fresh_calls == [("secretsmanager", "otlp/key")]
        refused = [r for r in rx.requests if not r.accepted]
        assert [r.headers["x-api-key"] for r in refused] == ["old-key"]
        retried = [r for r in rx.accepted() if r.signal == refused[0].signal]
        assert [r.headers["x-api-key"] for r in retried] == ["new-key"]  # only the refused part
        assert len(rx.spans()) == 2 and len(rx.logs()) == 3

        # refused again within the TTL: no second lookup, the batch is dropped and counted
        rx.status(403)
        otlp.offer(samples.signals(n_spans=1, n_logs=0, n_metrics=0))
        await otlp.flush(asyncio.get_running_loop().time() + 5)
        assert secrets.fresh_calls == [("secretsmanager", "otlp/key")]
        assert stats.get("dropped", "permanent_error") == 1
        # a TTL later (wall clock), a refusal looks again
        clock.now += settings.cache.secrets_ttl_s
        rx.status(403, times=1)
        otlp.offer(samples.signals(n_spans=1, n_logs=0, n_metrics=0))
        await otlp.flush(asyncio.get_running_loop().time() + 5)
        assert len(secrets.fresh_calls) == 2 and stats.get("dropped", "permanent_error") == 1
        await otlp.shutdown(asyncio.get_running_loop().time() + 1)

"""The summary as terminal text: waterfalls drawn with Unicode blocks, tables, optional colour.

Bars are drawn in eighths of a character (`▏▎▍▌▋▊▉█`), so a 0.6 ms span inside a 50 ms
invocation still shows as a sliver at the right place instead of vanishing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from emulator.demo.summary import Bar, InvocationView, Summary, fmt_ms

EIGHTHS = " ▏▎▍▌▋▊▉█"
BAR_WIDTH = 56
LABEL_WIDTH = 22
MESSAGE_WIDTH = 84

_COLOURS = {
    "init": "34",  # blue
    "invoke": "36",  # cyan
    "responseLatency": "32",  # green
    "responseDuration": "94",  # bright blue
    "runtimeOverhead": "33",  # yellow
    "extensionOverhead": "35",  # magenta
    "error": "31",
    "success": "32",
    "timeout": "33",
    "dim": "2",
    "bold": "1",
}
_SEVERITY = {"ERROR": "31", "FATAL": "31", "CRITICAL": "31", "WARN": "33", "WARNING": "33", "DEBUG": "2"}
_STATUS_MARK = {"success": "✔", "error": "✖", "timeout": "◔"}


@dataclass(frozen=True)
class Style:
    colour: bool

    def __call__(self, text: str, key: str) -> str:
        code = _COLOURS.get(key) or _SEVERITY.get(key.upper())
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and code else text


def bar(offset_ms: float, duration_ms: float, scale_ms: float, width: int = BAR_WIDTH) -> str:
    """A bar of `width` cells: starts at the cell of `offset_ms`, its length in eighths of a cell.

    Anything that exists gets at least one eighth, so short spans stay visible."""
    if scale_ms <= 0:
        return " " * width
    start = min(width - 1, max(0, int(offset_ms / scale_ms * width)))
    eighths = max(1, round(duration_ms / scale_ms * width * 8))
    eighths = min(eighths, (width - start) * 8)
    full, rest = divmod(eighths, 8)
    text = " " * start + "█" * full + (EIGHTHS[rest] if rest else "")
    return text.ljust(width)


def _clip(text: str, width: int) -> str:
    text = text.replace("\t", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _bar_line(b: Bar, scale_ms: float, style: Style, note: str = "") -> str:
    label = ("  " * b.depth + b.label)[:LABEL_WIDTH].ljust(LABEL_WIDTH)
    colour = "error" if b.error and b.kind == "invoke" else b.kind
    drawn = style(bar(b.offset_ms, b.duration_ms, scale_ms), colour)
    return f"    {label} {fmt_ms(b.duration_ms):>9} │{drawn}│{note}"


def invocation_block(v: InvocationView, style: Style) -> list[str]:
    mark = _STATUS_MARK.get(v.status, "?")
    status = style(f"{mark} {v.status}" + (f" ({v.error_type})" if v.error_type else ""), v.status)
    facts = [f"response {fmt_ms(v.response_ms)}", f"duration {fmt_ms(v.duration_ms)}"]
    if v.billed_ms is not None:
        facts.append(f"billed {v.billed_ms:g} ms")
    if v.init is not None and v.init_ms is not None:
        facts.append(f"init {fmt_ms(v.init_ms)}")
    if v.memory_used_mb is not None:
        facts.append(f"memory {v.memory_used_mb}/{v.memory_mb or '?'} MiB")
    ids = f"request {v.request_id[:8]}…" + (f" · trace …{v.trace_id[-12:]}" if v.trace_id else "")
    start = "cold" if v.cold else "warm"
    lines = [f"  #{v.index} {style(v.what, 'bold')} · {status} · {start} · {style(ids, 'dim')}"]
    lines.append("     " + " · ".join(facts))
    if v.init is not None:
        lines.append(_bar_line(v.init, v.init.duration_ms, style, style(" init: own scale", "dim")))
    if not v.span_found:
        lines.append(style("    (no invocation span received)", "error"))
    for b in v.bars:
        lines.append(_bar_line(b, v.scale_ms, style))
    if v.logs:
        lines.append("    logs")
        for log in v.logs:
            more = style(f" (+{log.extra_lines} lines)", "dim") if log.extra_lines else ""
            lines.append(
                f"      {style(log.severity.ljust(7), log.severity)} {style(log.trace_short, 'dim')}"
                f" {log.phase:<6} {_clip(log.message, MESSAGE_WIDTH)}{more}"
            )
    if v.hidden_probe_logs:
        lines.append(
            style(f"      (+{v.hidden_probe_logs} demo-cache-read lines, shown below as cache reads)", "dim")
        )
    if v.cache_reads:
        lines.append("    cache reads (local endpoints; values never shown)")
        for r in v.cache_reads:
            phase = "init" if r.request_id is None else "invoke"
            lines.append(
                f"      {phase:<6} {r.kind:<9} {_clip(r.name, 42):<42} {r.status}  "
                f"X-Cache {style(r.x_cache.ljust(7), 'success' if r.x_cache == 'hit' else 'timeout')}"
                f" Age {r.age:>3}  {r.ms:6.2f} ms"
            )
    return lines


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(str(row[column])) for row in [header, *rows]) for column in range(len(header))]
    lines = [
        indent + "  ".join(title.ljust(width) for title, width in zip(header, widths, strict=True)).rstrip()
    ]
    lines.append(indent + "  ".join("─" * width for width in widths))
    for row in rows:
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append(indent + "  ".join(cells).rstrip())
    return lines


def render(summary: Summary, *, colour: bool, header: Sequence[str] = (), footer: Sequence[str] = ()) -> str:
    style = Style(colour)
    lines: list[str] = [*header, ""]
    lines.append(style("Invocations", "bold"))
    rows = []
    for f in summary.functions:
        for v in f.invocations:
            rows.append(
                [
                    f.name,
                    f"#{v.index}",
                    v.what,
                    v.status + (f" ({v.error_type})" if v.error_type else ""),
                    fmt_ms(v.response_ms),
                    fmt_ms(v.duration_ms),
                    f"{v.billed_ms:g} ms" if v.billed_ms is not None else "-",
                    "cold" if v.cold else "warm",
                    v.request_id,
                ]
            )
    lines += _table(
        ["function", "", "what", "status", "response", "duration", "billed", "start", "request id"], rows
    )
    lines.append(
        style(
            "  response: when the caller had the answer · duration: Lambda's Duration, until every extension"
            " was back in /next · billed: includes the init of a cold start",
            "dim",
        )
    )
    lines.append("")
    lines.append(style("Traces", "bold") + " (one waterfall per invocation, bars to the scale of its span)")
    legend = "  ".join(style("█ " + k, k) for k in ("init", "invoke", *_CHILD_KEYS))
    lines.append("  " + legend)
    for f in summary.functions:
        lines.append("")
        lines.append(style(f"━━ {f.name}", "bold") + f"  sample_functions/{f.sample}: {f.story}")
        for v in f.invocations:
            lines += invocation_block(v, style)
    lines.append("")
    lines.append(
        style("Lambda metrics", "bold") + " (decoded from the OTLP metrics the receiver got; deltas summed)"
    )
    lines += _table(["", *summary.metric_columns], [[r.label, *r.values] for r in summary.metric_rows])
    lines.append("")
    lines.append(style("Cache", "bold"))
    reads = sum(summary.cache_totals.values())
    by = ", ".join(f"{k} {n}" for k, n in summary.cache_totals.items()) or "none"
    calls = sum(summary.aws_calls.values())
    lines.append(f"  reads by the functions: {reads} ({by})")
    lines.append(f"  AWS calls by the extension: {calls}")
    for operation, n in summary.aws_calls.items():
        lines.append(f"    {operation:<44} {n}")
    for note in summary.notes:
        lines.append(style(f"  note: {note}", "timeout"))
    lines += ["", *footer]
    return "\n".join(lines) + "\n"


_CHILD_KEYS = ("responseLatency", "responseDuration", "runtimeOverhead", "extensionOverhead")

"""The summary as one self-contained HTML page (inline CSS, no script, nothing from the network).

Same content as the terminal: per invocation a waterfall (bars positioned in percent of the
invocation span), its logs and cache reads; then the metric table and the raw data files.
Everything that came from a function (log lines, error types, names) is HTML-escaped.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

from emulator.demo.summary import Bar, InvocationView, Summary, fmt_ms

COLOURS = {
    "init": "#6b7fd7",
    "invoke": "#2a9d8f",
    "responseLatency": "#52b788",
    "responseDuration": "#4895ef",
    "runtimeOverhead": "#e9c46a",
    "extensionOverhead": "#c77dff",
    "error": "#e63946",
}
STATUS_COLOURS = {"success": "#2a9d8f", "error": "#e63946", "timeout": "#f4a261"}

CSS = """
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f6f7f9;
       color: #1d232b; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; border-bottom: 1px solid #d9dde3; padding-bottom: 4px; }
.sub { color: #5b6570; margin: 0 0 16px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12.5px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px;
            margin-right: 5px; }
.fn { background: #fff; border: 1px solid #dfe3e8; border-radius: 8px; padding: 12px 16px 6px;
      margin: 14px 0; }
.fn h3 { margin: 0 0 2px; font-size: 16px; }
.fn .story { color: #5b6570; margin: 0 0 8px; font-size: 13px; }
.inv { border-top: 1px solid #eef0f3; padding: 10px 0 8px; }
.head { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: baseline; margin-bottom: 6px; }
.head .what { font-weight: 600; }
.pill { border-radius: 10px; padding: 0 8px; color: #fff; font-size: 12px; font-weight: 600; }
.fact { color: #4a545e; font-size: 12.5px; }
.row { display: grid; grid-template-columns: 190px 78px 1fr; align-items: center; gap: 8px; height: 22px; }
.row .name { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font-size: 12.5px; }
.row .name.d1 { padding-left: 16px; color: #4a545e; }
.row .name.d2 { padding-left: 28px; color: #4a545e; }
.row .name.d3, .row .name.d4 { padding-left: 40px; color: #4a545e; }
.row .dur { text-align: right; font-size: 12px; color: #4a545e; }
.track { position: relative; height: 14px; border-radius: 3px; background-color: #f0f2f5;
         background-image: linear-gradient(to right, transparent calc(25% - 1px), #dde1e6 25%,
           transparent calc(25% + 1px), transparent calc(50% - 1px), #dde1e6 50%, transparent calc(50% + 1px),
           transparent calc(75% - 1px), #dde1e6 75%, transparent calc(75% + 1px)); }
.track .b { position: absolute; top: 0; height: 14px; border-radius: 3px; min-width: 2px; }
.row .scale { font-size: 11px; color: #8a939c; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eef0f3; vertical-align: top; }
th { color: #5b6570; font-weight: 600; }
td.msg { word-break: break-word; }
td.msg pre { margin: 4px 0 2px; white-space: pre-wrap; color: #4a545e; }
td.msg summary { cursor: pointer; }
table.narrow { width: auto; min-width: 420px; }
.sub-t { margin: 6px 0 2px; font-size: 12px; color: #5b6570; font-weight: 600; }
.sev-ERROR, .sev-CRITICAL, .sev-FATAL { color: #c1121f; font-weight: 600; }
.sev-WARN, .sev-WARNING { color: #b5651d; font-weight: 600; }
.sev-DEBUG { color: #8a939c; }
.xc-hit { color: #2a9d8f; font-weight: 600; }
.xc-miss, .xc-stale, .xc-refresh { color: #b5651d; font-weight: 600; }
.metrics td:first-child { color: #4a545e; }
.note { color: #b5651d; }
.files { columns: 3; font-size: 12px; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _bar_row(b: Bar, scale_ms: float, note: str = "") -> str:
    left = 0.0 if scale_ms <= 0 else min(100.0, max(0.0, b.offset_ms / scale_ms * 100))
    width = 0.0 if scale_ms <= 0 else min(100.0 - left, b.duration_ms / scale_ms * 100)
    colour = COLOURS["error"] if b.error and b.kind == "invoke" else COLOURS.get(b.kind, "#999")
    title = f"{b.label}: {fmt_ms(b.duration_ms)} at +{fmt_ms(b.offset_ms)}"
    return (
        f'<div class="row"><div class="name mono d{b.depth}" title="{_e(b.label)}">{_e(b.label)}</div>'
        f'<div class="dur mono">{_e(fmt_ms(b.duration_ms))}</div>'
        f'<div class="track" title="{_e(title)}"><div class="b" style="left:{left:.3f}%;width:{width:.3f}%;'
        f'background:{colour}"></div></div></div>'
        + (
            f'<div class="row"><div></div><div></div><div class="scale">{_e(note)}</div></div>'
            if note
            else ""
        )
    )


def _invocation(v: InvocationView) -> str:
    colour = STATUS_COLOURS.get(v.status, "#888")
    status = v.status + (f" · {v.error_type}" if v.error_type else "")
    facts = [f"response {fmt_ms(v.response_ms)}", f"duration {fmt_ms(v.duration_ms)}"]
    if v.billed_ms is not None:
        facts.append(f"billed {v.billed_ms:g} ms")
    if v.init_ms is not None and v.cold:
        facts.append(f"init {fmt_ms(v.init_ms)}")
    if v.memory_used_mb is not None:
        facts.append(f"memory {v.memory_used_mb}/{v.memory_mb or '?'} MiB")
    facts.append("cold start" if v.cold else "warm")
    facts.append(f"request <code>{_e(v.request_id)}</code>")
    if v.trace_id:
        facts.append(f"trace <code>{_e(v.trace_id)}</code>")
    parts = [
        '<div class="inv">',
        f'<div class="head"><span class="what">#{v.index} {_e(v.what)}</span>'
        f'<span class="pill" style="background:{colour}">{_e(status)}</span>'
        + "".join(f'<span class="fact">{f if "<code>" in f else _e(f)}</span>' for f in facts)
        + "</div>",
    ]
    if v.init is not None:
        parts.append(
            _bar_row(v.init, v.init.duration_ms, "init phase before this invocation, on its own scale")
        )
    if not v.span_found:
        parts.append('<p class="note">no invocation span received</p>')
    parts += [_bar_row(b, v.scale_ms) for b in v.bars]
    if v.logs:
        parts.append('<div class="sub-t">logs (correlated by trace id)</div><table>')
        parts.append("<tr><th>severity</th><th>trace</th><th>phase</th><th>message</th></tr>")
        for log in v.logs:
            if log.extra_lines:
                message = (
                    f"<details><summary>{_e(log.message)} "
                    f'<span class="fact">(+{log.extra_lines} lines)</span></summary>'
                    f"<pre>{_e(log.rest)}</pre></details>"
                )
            else:
                message = _e(log.message)
            parts.append(
                f'<tr><td class="sev-{_e(log.severity.upper())}">{_e(log.severity)}</td>'
                f'<td class="mono">{_e(log.trace_short)}</td><td>{_e(log.phase)}</td>'
                f'<td class="msg mono">{message}</td></tr>'
            )
        parts.append("</table>")
    if v.cache_reads:
        parts.append('<div class="sub-t">cache reads (local endpoints; values never shown)</div><table>')
        parts.append(
            "<tr><th>phase</th><th>kind</th><th>name</th><th>status</th><th>X-Cache</th><th>Age</th>"
        )
        parts.append("<th>time</th></tr>")
        for r in v.cache_reads:
            phase = "init" if r.request_id is None else "invoke"
            parts.append(
                f"<tr><td>{phase}</td><td>{_e(r.kind)}</td><td class='mono'>{_e(r.name)}</td>"
                f"<td>{r.status}</td><td class='xc-{_e(r.x_cache)}'>{_e(r.x_cache)}</td><td>{_e(r.age)}</td>"
                f"<td class='mono'>{r.ms:.2f} ms</td></tr>"
            )
        parts.append("</table>")
    parts.append("</div>")
    return "".join(parts)


def _overview(summary: Summary) -> str:
    rows = [
        "<table><tr><th>function</th><th></th><th>what</th><th>status</th><th>response</th><th>duration</th>"
        "<th>billed</th><th>start</th><th>request id</th></tr>"
    ]
    for f in summary.functions:
        for v in f.invocations:
            colour = STATUS_COLOURS.get(v.status, "#888")
            status = v.status + (f" ({v.error_type})" if v.error_type else "")
            billed = f"{v.billed_ms:g} ms" if v.billed_ms is not None else "-"
            rows.append(
                f"<tr><td>{_e(f.name)}</td><td>#{v.index}</td><td>{_e(v.what)}</td>"
                f'<td style="color:{colour};font-weight:600">{_e(status)}</td>'
                f"<td>{_e(fmt_ms(v.response_ms))}</td><td>{_e(fmt_ms(v.duration_ms))}</td><td>{_e(billed)}</td>"
                f"<td>{'cold' if v.cold else 'warm'}</td><td class='mono'>{_e(v.request_id)}</td></tr>"
            )
    rows.append("</table>")
    rows.append(
        '<p class="sub">response: when the caller had the answer · duration: Lambda\'s Duration, until every '
        "extension was back in /next · billed: includes the init of a cold start</p>"
    )
    return "".join(rows)


def render(summary: Summary, *, title: str, intro: Sequence[str], report_path: Path) -> str:
    legend = "".join(
        f'<span><i style="background:{c}"></i>{_e(k)}</span>' for k, c in COLOURS.items() if k != "error"
    )
    body = [
        f"<h1>{_e(title)}</h1>",
        *(f'<p class="sub">{_e(line)}</p>' for line in intro),
        "<h2>Invocations</h2>",
        _overview(summary),
        "<h2>Traces</h2>",
        '<p class="sub">One waterfall per invocation, bars in proportion to the invocation span '
        "(grid lines at quarters); the init phase of a cold start on its own scale.</p>",
        f'<div class="legend">{legend}</div>',
    ]
    for f in summary.functions:
        body.append(
            f'<section class="fn"><h3>{_e(f.name)} '
            f'<span class="fact">sample_functions/{_e(f.sample)}</span></h3>'
            f'<p class="story">{_e(f.story)}</p>'
        )
        body += [_invocation(v) for v in f.invocations]
        body.append("</section>")
    body.append("<h2>Lambda metrics</h2>")
    body.append('<p class="sub">Decoded from the OTLP metrics the receiver got (delta points summed).</p>')
    body.append('<table class="metrics"><tr><th></th>')
    body += [f"<th>{_e(c)}</th>" for c in summary.metric_columns]
    body.append("</tr>")
    for row in summary.metric_rows:
        body.append(
            f"<tr><td>{_e(row.label)}</td>" + "".join(f"<td>{_e(v)}</td>" for v in row.values) + "</tr>"
        )
    body.append("</table>")
    body.append("<h2>Cache</h2>")
    reads = sum(summary.cache_totals.values())
    by = ", ".join(f"{k} {n}" for k, n in summary.cache_totals.items()) or "none"
    body.append(f"<p>Reads by the functions: <b>{reads}</b> ({_e(by)}). ")
    body.append(f"AWS calls made by the extension: <b>{sum(summary.aws_calls.values())}</b>.</p>")
    body.append('<table class="narrow"><tr><th>AWS operation</th><th>calls</th></tr>')
    body += [f"<tr><td class='mono'>{_e(op)}</td><td>{n}</td></tr>" for op, n in summary.aws_calls.items()]
    body.append("</table>")
    for note in summary.notes:
        body.append(f'<p class="note">{_e(note)}</p>')
    body.append("<h2>Raw OTLP data</h2>")
    counts = ", ".join(f"{n} {k}" for k, n in summary.counts.items())
    body.append(f'<p class="sub">{_e(counts)}; each request decoded to OTLP/JSON:</p><div class="files">')
    for path in summary.otlp_files:
        rel = os.path.relpath(path, report_path.parent)
        body.append(f'<div><a class="mono" href="{_e(rel)}">{_e(rel)}</a></div>')
    body.append("</div>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{CSS}</style></head><body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )

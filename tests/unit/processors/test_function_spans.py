"""The function's own root spans nest under our invocation span, whichever arrives first; spans
whose parent is anything but the invocation's X-Ray Parent are never re-parented."""

from __future__ import annotations

from extension.processors.function_spans import LINK_ATTRIBUTE, LINK_REASON
from extension.signals import Signals, SpanData, SpanKind
from extension.stats import Stats
from tests.unit.processors.helpers import NOW, events, processor
from tests.unit.processors.test_processor_lifecycle import RID, report, runtime_done, start

TRACE = bytes.fromhex("67a1b2c30123456789abcdef01234567")
XRAY_PARENT = bytes.fromhex("89abcdef01234567")
HEADER = "Root=1-67a1b2c3-0123456789abcdef01234567;Parent=89abcdef01234567;Sampled=1"
LAMBDA_SPAN_ID = "5c2a3a1f0e9d8b7a"


def fn_span(name: str, span_id: bytes, parent: bytes | None, trace_id: bytes = TRACE) -> SpanData:
    return SpanData(trace_id, span_id, parent, name, SpanKind.INTERNAL, NOW, NOW + 1, attributes={"k": "v"})


def _start() -> object:
    return start(tracing={"spanId": LAMBDA_SPAN_ID, "type": "X-Amzn-Trace-Id", "value": HEADER})


def test_root_span_after_platform_start_is_nested_at_once() -> None:
    p = processor()
    p.on_invoke(RID, 0, HEADER, NOW)
    p.process(events([_start()]))
    root = fn_span("handler", b"\x11" * 8, XRAY_PARENT)
    child = fn_span("step", b"\x12" * 8, b"\x11" * 8)
    (got_child, got_root) = p.function_signals(Signals(spans=(child, root))).spans
    assert got_child == child  # its parent is a function span: untouched
    assert got_root.parent_span_id == bytes.fromhex(LAMBDA_SPAN_ID)
    assert [(link.span_id, dict(link.attributes)) for link in got_root.links] == [
        (XRAY_PARENT, {LINK_ATTRIBUTE: LINK_REASON})
    ]


def test_root_span_before_platform_start_waits_for_the_final_span_id() -> None:
    p = processor()
    p.on_invoke(RID, 0, HEADER, NOW)
    root = fn_span("handler", b"\x11" * 8, XRAY_PARENT)
    assert p.function_signals(Signals(spans=(root,))).spans == ()  # held, not lost
    out = p.process(events([_start()]))
    (released,) = [s for s in out.spans if s.name == "handler"]
    assert released.parent_span_id == bytes.fromhex(LAMBDA_SPAN_ID)
    out = p.process(events([runtime_done(), report()]))
    invocation = next(s for s in out.spans if s.kind is SpanKind.SERVER)
    assert invocation.span_id == released.parent_span_id
    assert not [s for s in out.spans if s.name == "handler"]  # sent once


def test_held_root_goes_out_with_the_invocation_span_without_platform_start() -> None:
    p = processor()
    p.on_invoke(RID, 0, HEADER, NOW)
    p.function_signals(Signals(spans=(fn_span("handler", b"\x11" * 8, XRAY_PARENT),)))
    out = p.process(events([runtime_done(), report()]))
    invocation = next(s for s in out.spans if s.kind is SpanKind.SERVER)
    assert next(s for s in out.spans if s.name == "handler").parent_span_id == invocation.span_id


def test_held_root_is_not_lost_at_a_shutdown_without_platform_events() -> None:
    stats = Stats()
    p = processor(stats)
    p.on_invoke(RID, 0, HEADER, NOW)
    root = fn_span("handler", b"\x11" * 8, XRAY_PARENT)
    p.function_signals(Signals(spans=(root,)))
    assert p.on_shutdown("spindown", NOW).spans == (root,)


def test_other_parents_and_other_traces_are_never_re_parented() -> None:
    p = processor()
    p.on_invoke(RID, 0, HEADER, NOW)
    p.process(events([_start()]))
    not_yet_arrived = fn_span("child of a root still running", b"\x21" * 8, b"\x99" * 8)
    other_trace = fn_span("elsewhere", b"\x22" * 8, XRAY_PARENT, trace_id=b"\x07" * 16)
    root_of_its_own = fn_span("own root", b"\x23" * 8, None)
    spans = (not_yet_arrived, other_trace, root_of_its_own)
    assert p.function_signals(Signals(spans=spans)).spans == (not_yet_arrived, root_of_its_own)
    # a trace no invocation announced waits for one until the next flush point, then goes out as is
    assert p.release_unmatched().spans == (other_trace,)
    assert p.release_unmatched().spans == ()


def test_spans_exported_before_the_extension_read_its_invoke_still_nest() -> None:
    """On a loaded host (or a small CPU share) the function can run and flush its spans before
    this extension has read the INVOKE: they wait for it instead of going out as orphans."""
    p = processor()
    root = fn_span("handler", b"\x11" * 8, XRAY_PARENT)
    child = fn_span("step", b"\x12" * 8, b"\x11" * 8)
    assert p.function_signals(Signals(spans=(child, root))).spans == ()  # held, not lost
    p.on_invoke(RID, 0, HEADER, NOW)
    out = p.process(events([_start()]))
    by_name = {s.name: s for s in out.spans}
    assert by_name["step"] == child
    assert by_name["handler"].parent_span_id == bytes.fromhex(LAMBDA_SPAN_ID)
    assert p.release_unmatched().spans == ()  # nothing left behind, nothing twice


def test_no_nesting_when_spans_are_off_and_records_are_redacted() -> None:
    p = processor(SIDECAR_SPANS_ENABLED="false")
    p.on_invoke(RID, 0, HEADER, NOW)
    root = fn_span("handler", b"\x11" * 8, XRAY_PARENT)
    assert p.function_signals(Signals(spans=(root,))).spans == (root,)
    p = processor(SIDECAR_REDACT_PATTERNS="secret-[0-9]+")
    leaky = SpanData(TRACE, b"\x31" * 8, None, "x", SpanKind.CLIENT, 1, 2, attributes={"q": "secret-123"})
    (clean,) = p.function_signals(Signals(spans=(leaky,))).spans
    assert clean.attributes == {"q": "[REDACTED]"}


def test_completed_invocations_are_not_kept_alive_by_the_nesting_index() -> None:
    """Steady memory: the (trace, parent) index forgets completed invocations beyond the ones the
    invocation table remembers, so 300 invokes leave it as small as a few would."""
    from extension.processors.invocations import RECENT_INVOCATIONS

    p = processor()
    for n in range(300):
        rid = f"req-{n}"
        header = f"Root=1-67a1b2c3-{n:024x};Parent=89abcdef01234567;Sampled=1"
        p.on_invoke(rid, 0, header, NOW)
        tracing = {"spanId": LAMBDA_SPAN_ID, "type": "X-Amzn-Trace-Id", "value": header}
        p.process(events([start(rid, tracing), runtime_done(rid), report(rid)]))
    assert len(p._by_parent) <= RECENT_INVOCATIONS + 1  # + the one open when last indexed

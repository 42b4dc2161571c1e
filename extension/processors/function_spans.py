"""Nesting the function's own spans under our invocation span.

A function that starts its spans from the Lambda trace context (the `_X_AMZN_TRACE_ID` the runtime
sets, read with the AWS X-Ray Lambda propagator) gives its root spans the trace id of the
invocation and, as parent, the `Parent` of the X-Ray header. That parent is a span nobody exports
(on AWS an X-Ray segment the extension never receives:
https://github.com/open-telemetry/opentelemetry-lambda/issues/449), so in a backend those roots
would be orphans or siblings of our invocation span. We receive both, so such a root becomes a
child of the invocation span; its original parent is kept as a link. Only that exact parent is
re-parented: a span whose parent simply has not arrived yet (children often arrive before their
root, which ends last) is never touched.
"""

from __future__ import annotations

from extension.signals import SpanData, SpanLink

#: Attribute on the link to the original parent, saying why the span was re-parented.
LINK_ATTRIBUTE = "lambda_sidecar.link"
LINK_REASON = "lambda_trace_parent"
#: Root spans kept per invocation while its span id is not final (beyond: sent un-nested, counted).
MAX_HELD_PER_INVOCATION = 1000
#: Most function spans held while their trace is not announced by any invocation yet.
MAX_UNMATCHED_SPANS = 5000


def nest(span: SpanData, invocation_span_id: bytes) -> SpanData:
    """`span` as a child of the invocation span, linked to the parent it had."""
    if span.parent_span_id is None or span.parent_span_id == invocation_span_id:
        return span
    link = SpanLink(span.trace_id, span.parent_span_id, {LINK_ATTRIBUTE: LINK_REASON})
    return span._replace(parent_span_id=invocation_span_id, links=(*span.links, link))

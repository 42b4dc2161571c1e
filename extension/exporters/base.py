"""The exporter contract: one destination's network or file I/O, returning a result, never raising.

Exporters own all I/O of a destination and classify every outcome (success, retryable,
permanent) so that `Destination` alone decides about retries, backoff, buffering and drops.
Like opentelemetry-python's `SpanExportResult`, but richer: a result may say *which part* of a
batch to retry (one OTLP signal failed while the others went through) and carries the server's
`Retry-After`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from extension.exporters.queue import item_count
from extension.signals import Resource, Signals

#: Record kinds an exporter may accept; `Destination` buffers only those.
KIND_SPANS, KIND_LOGS, KIND_METRICS, KIND_RAW = "spans", "logs", "metrics", "raw_events"
ALL_KINDS: frozenset[str] = frozenset({KIND_SPANS, KIND_LOGS, KIND_METRICS, KIND_RAW})
OTEL_KINDS: frozenset[str] = frozenset({KIND_SPANS, KIND_LOGS, KIND_METRICS})


class Outcome(enum.Enum):
    SUCCESS = "success"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What happened to one `export()` call.

    - `retry_after`: seconds the server asked us to wait (Retry-After, RetryInfo), if any.
    - `retry`: for RETRYABLE, the subset of the batch to keep for a later attempt; None = all.
    - `failed_items`: records permanently lost inside a mixed result (e.g. one signal got a 400
      while another got a 503); None for PERMANENT means the whole batch.
    - `rejected`: records the backend accepted the request for but rejected (OTLP
      `partial_success`), or that could not be written (file size bound); counted as dropped.
    - `failed`: for PERMANENT, the parts of the batch that failed when others went through
      (None: the whole batch), so a caller that can fix the cause (rotated credentials) re-sends
      only those.
    """

    outcome: Outcome
    reason: str = ""
    retry_after: float | None = None
    retry: Signals | None = None
    failed_items: int | None = None
    rejected: int = 0
    failed: Signals | None = None

    @classmethod
    def success(cls, rejected: int = 0, reason: str = "") -> ExportResult:
        return cls(Outcome.SUCCESS, reason=reason, rejected=rejected)

    @classmethod
    def retryable(
        cls,
        reason: str,
        retry_after: float | None = None,
        retry: Signals | None = None,
        failed_items: int | None = None,
    ) -> ExportResult:
        return cls(Outcome.RETRYABLE, reason, retry_after, retry, failed_items)

    @classmethod
    def permanent(cls, reason: str, failed_items: int | None = None) -> ExportResult:
        return cls(Outcome.PERMANENT, reason, failed_items=failed_items)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCESS


class Exporter(Protocol):
    """One destination's I/O.

    - Construction does no I/O. `start()` prepares clients (may raise: the destination is then
      disabled with one log line); `shutdown()` is idempotent and safe without `start()`.
    - `export(signals, resource, timeout_s)` sends everything in `signals` within `timeout_s`
      (the caller's remaining time, already capped; the exporter also applies its own configured
      timeout, whichever is smaller) and NEVER raises: every exception becomes a result.
    - `accepts`: the record kinds this exporter sends (`ALL_KINDS` subset); others are never
      buffered for it.
    """

    name: str
    accepts: frozenset[str]

    async def start(self) -> None: ...

    async def export(self, signals: Signals, resource: Resource, timeout_s: float) -> ExportResult: ...

    async def shutdown(self) -> None: ...


class ExporterDisabledError(Exception):
    """Raised by `start()` when a destination cannot work at all (e.g. a secret header could not be
    resolved); its message must never contain a secret value."""


def filter_signals(signals: Signals, accepts: frozenset[str]) -> Signals:
    """Keep only the record kinds an exporter accepts (no copy when all are accepted)."""
    if accepts >= ALL_KINDS:
        return signals
    return Signals(
        signals.spans if KIND_SPANS in accepts else (),
        signals.logs if KIND_LOGS in accepts else (),
        signals.metrics if KIND_METRICS in accepts else (),
        signals.raw_events if KIND_RAW in accepts else (),
    )


def combine(results: list[tuple[Signals, ExportResult]]) -> ExportResult:
    """Merge the results of independent parts of one batch (OTLP signals, HTTP JSON chunks).

    All success → success. Any retryable → retryable, keeping only the parts to retry and
    counting permanently failed parts in `failed_items`. Otherwise → permanent for the failed
    parts only (parts that succeeded are not re-sent or counted as lost).
    """
    if not results:
        return ExportResult.success()
    rejected = sum(r.rejected for _, r in results)
    retry_parts = [(s, r) for s, r in results if r.outcome is Outcome.RETRYABLE]
    perm_parts = [(s, r) for s, r in results if r.outcome is Outcome.PERMANENT]
    perm_items = sum(
        r.failed_items if r.failed_items is not None else item_count(s) for s, r in perm_parts
    ) + sum(r.failed_items or 0 for _, r in retry_parts)
    reasons = "; ".join(dict.fromkeys(r.reason for _, r in retry_parts + perm_parts if r.reason))
    if retry_parts:
        keep = Signals()
        for part, result in retry_parts:
            keep = keep + (result.retry if result.retry is not None else part)
        afters = [r.retry_after for _, r in retry_parts if r.retry_after is not None]
        return ExportResult(
            Outcome.RETRYABLE,
            reasons,
            max(afters) if afters else None,
            keep,
            perm_items,
            rejected,
        )
    if perm_parts:
        failed = Signals()
        for part, _ in perm_parts:
            failed = failed + part
        return ExportResult(
            Outcome.PERMANENT, reasons, failed_items=perm_items, rejected=rejected, failed=failed
        )
    return ExportResult.success(rejected=rejected)

"""HTTP delivery shared by OTLP/HTTP and HTTP JSON: one POST, classified into an ExportResult.

Classification follows the OTLP/HTTP specification, which is also a sensible rule for any
ingestion endpoint: 2xx success; 429, 502, 503, 504 retryable (honouring `Retry-After` in seconds
or as an HTTP date); every other status permanent; connection errors and timeouts retryable.

After a Lambda freeze, pooled keep-alive connections are often dead (the server or a NAT closed
them while we were frozen) and the first request on one fails with "server disconnected". That
says nothing about the backend, so such a failure on a reused connection is retried once at
once on a fresh connection, within the same time budget.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from extension.exporters.base import ExportResult
from extension.http.client import (
    ConnectionClosedError,
    HttpClient,
    HttpClientError,
    InvalidRequestError,
    Origin,
    ProtocolError,
    StaleConnectionError,
    TlsVerificationError,
)

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
#: Connections per destination origin (the three OTLP signals of one flush go out concurrently).
MAX_CONNECTIONS = 16


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date; None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils  # only for the rare HTTP-date form

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def classify_status(status: int, retry_after: str | None) -> ExportResult:
    if 200 <= status < 300:
        return ExportResult.success()
    if status in RETRYABLE_STATUS:
        return ExportResult.retryable(f"http {status}", parse_retry_after(retry_after))
    return ExportResult.permanent(f"http {status}")


ProxyFor = Callable[[Origin], Origin | None]


def new_client(proxy_for: ProxyFor | None = None) -> HttpClient:
    """One pooled client per exporter (no I/O until the first request)."""
    return HttpClient(max_connections=MAX_CONNECTIONS, proxy_for=proxy_for)


@dataclass(frozen=True, slots=True)
class HttpReply:
    result: ExportResult
    status: int = 0
    body: bytes = b""
    content_type: str = ""


async def post(
    client: HttpClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    *,
    compression: str = "none",
    cafile: str | None = None,
) -> HttpReply:
    """POST `body` (gzip-compressed when `compression == "gzip"`) within `timeout_s`; never raises
    (except cancellation)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    for attempt in (1, 2):
        remaining = deadline - loop.time()
        if remaining <= 0:
            return HttpReply(ExportResult.retryable("timeout"))
        try:
            resp = await client.request(
                "POST",
                url,
                headers=headers,
                body=body,
                timeout_s=remaining,
                gzip=compression == "gzip",
                cafile=cafile,
                new_connection=attempt == 2,
            )
        except TimeoutError:
            return HttpReply(ExportResult.retryable("timeout"))
        except TlsVerificationError:
            return HttpReply(ExportResult.permanent("tls certificate verification failed"))
        except InvalidRequestError as exc:
            return HttpReply(ExportResult.permanent(f"invalid request ({exc})"))
        except (StaleConnectionError, ConnectionClosedError) as exc:
            if attempt == 1:
                continue  # a connection that died during a freeze (or a reset): once more on a new one
            return HttpReply(ExportResult.retryable(f"connection error ({type(exc).__name__})"))
        except ProtocolError as exc:
            return HttpReply(ExportResult.retryable(f"invalid response ({exc})"))
        except HttpClientError as exc:
            return HttpReply(ExportResult.retryable(f"connection error ({type(exc).__name__})"))
        except Exception as exc:
            return HttpReply(ExportResult.permanent(f"unexpected {type(exc).__name__}"))
        result = classify_status(resp.status, resp.header("Retry-After"))
        return HttpReply(result, resp.status, resp.body, resp.header("Content-Type"))
    return HttpReply(ExportResult.retryable("connection error"))

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
import email.utils
import gzip
import ssl
import time
from dataclasses import dataclass

import aiohttp

from extension.exporters.base import ExportResult

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
USER_AGENT = "lambda-sidecar/0.1"
GZIP_LEVEL = 5


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date; None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
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


def compress(body: bytes, compression: str) -> tuple[bytes, dict[str, str]]:
    if compression == "gzip":
        return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0), {"Content-Encoding": "gzip"}
    return body, {}


def ssl_context(certificate: str | None) -> ssl.SSLContext | None:
    """A verifying context that also trusts `certificate` (a CA bundle path); None = defaults."""
    if not certificate:
        return None
    return ssl.create_default_context(cafile=certificate)


def new_session() -> aiohttp.ClientSession:
    """One pooled client per exporter; created in `start()` (it needs the running loop)."""
    connector = aiohttp.TCPConnector(limit=16, ttl_dns_cache=300)
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT}, trust_env=False)


@dataclass(frozen=True, slots=True)
class HttpReply:
    result: ExportResult
    status: int = 0
    body: bytes = b""
    content_type: str = ""


_STALE_CONNECTION_ERRORS = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    ssl_ctx: ssl.SSLContext | None = None,
) -> HttpReply:
    """POST `body` within `timeout_s`; never raises (except cancellation)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    for attempt in (1, 2):
        remaining = deadline - loop.time()
        if remaining <= 0:
            return HttpReply(ExportResult.retryable("timeout"))
        try:
            async with asyncio.timeout(remaining):
                async with session.post(
                    url, data=body, headers=headers, ssl=ssl_ctx if ssl_ctx is not None else True
                ) as resp:
                    data = await resp.read()
                    result = classify_status(resp.status, resp.headers.get("Retry-After"))
                    return HttpReply(result, resp.status, data, resp.headers.get("Content-Type", ""))
        except TimeoutError:
            return HttpReply(ExportResult.retryable("timeout"))
        except aiohttp.ClientConnectorCertificateError:
            return HttpReply(ExportResult.permanent("tls certificate verification failed"))
        except _STALE_CONNECTION_ERRORS as exc:
            if attempt == 1:
                continue
            return HttpReply(ExportResult.retryable(f"connection error ({type(exc).__name__})"))
        except (aiohttp.ClientError, OSError) as exc:
            return HttpReply(ExportResult.retryable(f"connection error ({type(exc).__name__})"))
        except Exception as exc:
            return HttpReply(ExportResult.permanent(f"unexpected {type(exc).__name__}"))
    return HttpReply(ExportResult.retryable("connection error"))

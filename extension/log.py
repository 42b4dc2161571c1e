"""The extension's own logging: quiet, one logger, every line marked as ours.

Anything the extension prints comes back to it as an `extension` Telemetry API record. Every
text line we write starts with `SELF_LOG_MARKER` and a space, and every JSON line we print starts
with `SELF_JSON_PREFIX` (its first key is `SELF_JSON_KEY`, naming one of `SELF_JSON_KINDS`), so the
log processor recognises our own output and never re-ingests it. Only records of the `extension`
stream are checked, and only for these exact prefixes: a function that logs the same words (an
attacker's input, say) must never be able to drop its own lines.
Standard library only (imported on the fast path).
"""

from __future__ import annotations

import logging
import sys

SELF_LOG_MARKER = "[lambda-sidecar]"
#: Key present in every JSON line the extension prints (EMF and JSON-lines stdout output).
SELF_JSON_KEY = "_lambda_sidecar"
#: How every JSON line we print starts (compact separators, `SELF_JSON_KEY` first).
SELF_JSON_PREFIX = '{"' + SELF_JSON_KEY + '":'
#: The values `SELF_JSON_KEY` takes: what the line carries.
SELF_JSON_KINDS = frozenset({"emf", "span", "log"})
_SELF_TEXT_PREFIX = SELF_LOG_MARKER + " "

LOGGER_NAME = "lambda_sidecar"


def get_logger(child: str | None = None) -> logging.Logger:
    return logging.getLogger(LOGGER_NAME if not child else f"{LOGGER_NAME}.{child}")


def setup_logging(level: str = "INFO") -> logging.Logger:
    """Configure our logger once: stderr, marked lines, no propagation to the root logger."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{SELF_LOG_MARKER} %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level.upper() if level.upper() in logging.getLevelNamesMapping() else "INFO")
    return logger


def is_self_line(text: str) -> bool:
    """True for a line the extension itself wrote (text or JSON), judged by its exact prefix.
    Meaningful only for `extension` records: a function's line is never ours."""
    return text.startswith(_SELF_TEXT_PREFIX) or text.startswith(SELF_JSON_PREFIX)


def is_self_object(record: dict[str, object]) -> bool:
    """True for one of our JSON lines delivered as an object (JSON log format)."""
    kind = record.get(SELF_JSON_KEY)
    return isinstance(kind, str) and kind in SELF_JSON_KINDS

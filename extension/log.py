"""The extension's own logging: quiet, one logger, every line marked as ours.

Anything the extension prints comes back to it as an `extension` Telemetry API record. Every
line we write starts with SELF_LOG_MARKER (and every JSON line we print carries SELF_JSON_KEY),
so the log processor recognises our own output and never re-ingests it.
Standard library only (imported on the fast path).
"""

from __future__ import annotations

import logging
import sys

SELF_LOG_MARKER = "[lambda-sidecar]"
#: Key present in every JSON line the extension prints (EMF and JSON-lines stdout output).
SELF_JSON_KEY = "_lambda_sidecar"

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
    """True for a line the extension itself wrote (text or JSON)."""
    stripped = text.lstrip()
    return stripped.startswith(SELF_LOG_MARKER) or (stripped.startswith("{") and SELF_JSON_KEY in stripped)

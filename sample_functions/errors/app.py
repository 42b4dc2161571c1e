"""Fails on purpose, so the error paths show up in telemetry: a plain exception (default), a
chained custom exception (`{"kind": "chained"}`), or a crash of the runtime process
(`{"kind": "crash"}`: Runtime.ExitError, the execution environment is reset)."""

from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger()
logger.setLevel(logging.INFO)


class OrderRejectedError(Exception):
    """A domain error, raised from a lower-level cause (shows a chained traceback)."""


def _lookup(order: dict[str, Any]) -> str:
    return str(order["customer_id"])


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    kind = event.get("kind", "value")
    logger.info("about to fail (%s) in %s", kind, context.aws_request_id)
    if kind == "chained":
        try:
            _lookup({})
        except KeyError as exc:
            raise OrderRejectedError("order has no customer") from exc
    if kind == "crash":
        os._exit(3)
    raise ValueError(event.get("message", "sample failure"))

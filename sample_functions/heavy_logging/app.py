"""Writes N numbered log lines (`{"lines": N, "width": W, "via": "print"|"logging"}`, defaults
1000 / 100 / print) for throughput and loss tests: every line carries the request id and its
number, so a receiver can count exactly which lines arrived."""

from __future__ import annotations

import logging
import sys
from typing import Any

MAX_LINES = 1_000_000
logger = logging.getLogger("heavy")
logger.setLevel(logging.INFO)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    lines = max(0, min(int(event.get("lines", 1000)), MAX_LINES))
    width = max(0, int(event.get("width", 100)))
    via = event.get("via", "print")
    request_id = context.aws_request_id
    for i in range(1, lines + 1):
        head = f"heavy-logging {request_id} line {i}/{lines} "
        text = head + "x" * max(0, width - len(head))
        if via == "logging":
            logger.info(text)
        else:
            print(text)
    sys.stdout.flush()
    return {"lines": lines, "width": width, "via": via}

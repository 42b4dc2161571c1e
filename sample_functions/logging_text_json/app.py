"""Logs the ways functions do: the logging module at every level (plain text, or JSON records when
the function's LoggingConfig sets LogFormat JSON -- the runtime formats them then), a hand-made
JSON line (structured logging without the runtime's help), print, stderr, a multi-line message and
an exception with its traceback. `{"order_id": "..."}` appears in every line."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

logger = logging.getLogger("orders")
if "AWS_LAMBDA_LOG_LEVEL" not in os.environ:  # with advanced logging controls, Lambda sets the level
    logging.getLogger().setLevel(logging.DEBUG)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    order_id = str(event.get("order_id", "o-1001"))
    logger.debug("order %s: validating 3 items", order_id)
    logger.info("order %s received", order_id, extra={"order_id": order_id, "items": 3})
    logger.warning("order %s: inventory low for sku-42", order_id)
    logger.error("order %s: payment provider slow (2.5 s)", order_id)
    try:
        _ = 1 / 0
    except ZeroDivisionError:
        logger.exception("order %s: discount computation failed", order_id)
    print(
        json.dumps(
            {
                "level": "INFO",
                "message": "order processed",
                "order_id": order_id,
                "amount_cents": 1299,
                "requestId": context.aws_request_id,
            }
        )
    )
    print(f"plain print: order {order_id} done")
    print(f"multi-line message for order {order_id}\n  second line\n  third line")
    sys.stderr.write(f"stderr line for order {order_id}\n")
    return {"order_id": order_id, "log_format": os.environ.get("AWS_LAMBDA_LOG_FORMAT", "Text")}

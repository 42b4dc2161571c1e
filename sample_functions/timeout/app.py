"""Sleeps past its timeout (by default one second longer than the time left), so the platform
ends the invoke with status `timeout`. `{"sleep_s": 0.1}` sleeps less and returns."""

from __future__ import annotations

import time
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    remaining_s = context.get_remaining_time_in_millis() / 1000
    sleep_s = float(event.get("sleep_s", remaining_s + 1.0))
    print(f"sleeping {sleep_s:.2f} s with {remaining_s:.2f} s left", flush=True)
    time.sleep(sleep_s)
    return {"slept_s": sleep_s}

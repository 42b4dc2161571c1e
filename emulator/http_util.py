"""Response helpers and identifier checks shared by the API handlers.

Every error answer has the Lambda shape ``{"errorMessage", "errorType"}``; handlers never raise
to aiohttp, they answer.
"""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from emulator.model import Agent
from emulator.state import EnvironmentState

ID_HEADER = "Lambda-Extension-Identifier"
_ERROR_TYPE_RE = re.compile(r"^(Runtime|Function)\.[A-Z][a-zA-Z]+$")


def error(status: int, error_type: str, message: str) -> web.Response:
    """A Lambda-style JSON error response."""
    return web.json_response({"errorMessage": message, "errorType": error_type}, status=status)


def accepted() -> web.Response:
    """202 ``{"status":"OK"}`` as the response and error endpoints answer."""
    return web.json_response({"status": "OK"}, status=202)


def normalize_error_type(header: str | None) -> str:
    """Platform bookkeeping keeps only ``(Runtime|Function).Reason`` values (the Runtime API error types)."""
    if header and _ERROR_TYPE_RE.match(header):
        return header
    if header and header.startswith("Function."):
        return "Function.Unknown"
    return "Runtime.Unknown"


def lookup_agent(request: web.Request, env: EnvironmentState) -> Agent | web.Response:
    """The extension named by ``Lambda-Extension-Identifier``, or the 403 to answer."""
    value = request.headers.get(ID_HEADER)
    if not value:
        return error(
            403, "Extension.MissingExtensionIdentifier", "Missing Lambda-Extension-Identifier header"
        )
    try:
        uuid.UUID(value)
    except ValueError:
        return error(403, "Extension.InvalidExtensionIdentifier", f"Invalid extension identifier: {value}")
    agent = env.agents_by_id.get(value)
    if agent is None:
        return error(403, "Extension.UnknownExtensionIdentifier", f"Unknown extension identifier: {value}")
    return agent

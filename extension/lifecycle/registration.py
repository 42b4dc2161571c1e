"""Registration with the Extensions API on the fast start-up path (standard library only).

Lambda starts the runtime only after every extension has registered, so everything this module
imports is paid by every cold start before the function's own init can begin. It therefore
speaks HTTP/1.1 through the plain-socket client of `extension.http.blocking` and builds the
small JSON bodies by hand; `json` is imported only to read the answer, once the platform already
counts us as registered.
"""

from __future__ import annotations

import time

from extension.http.blocking import request

API_PREFIX = "/2020-01-01/extension"


#: Answered to a register call naming an event the platform does not offer this extension; on
#: Lambda Managed Instances external extensions may register only for SHUTDOWN.
INVALID_EVENT_TYPE = "Extension.InvalidEventType"
#: Register attempts for an answer that may be transient (HTTP 5xx, a broken connection), and the
#: pause between them; small, since the whole of init waits for our registration.
REGISTER_ATTEMPTS = 3
REGISTER_RETRY_PAUSE_S = 0.1


class ExtensionsApiError(RuntimeError):
    """A non-success answer from the Extensions API (status and the platform's errorType)."""

    def __init__(self, what: str, status: int, body: str) -> None:
        super().__init__(f"{what} failed: HTTP {status}: {body[:300]}")
        self.status = status
        self.error_type = _error_type(body)


def _error_type(body: str) -> str:
    """The `errorType` of an Extensions API error body, or "" (only read on the failure path)."""
    import json

    try:
        parsed = json.loads(body)
    except ValueError:
        return ""
    value = parsed.get("errorType") if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else ""


class Registration:
    """What /register answered (immutable). A plain class, not a dataclass: importing
    `dataclasses` costs more than this whole module on the cold-start path."""

    __slots__ = ("account_id", "extension_id", "function_name", "function_version", "handler")
    extension_id: str
    function_name: str
    function_version: str
    handler: str
    account_id: str | None

    def __init__(
        self,
        extension_id: str,
        function_name: str,
        function_version: str,
        handler: str,
        account_id: str | None,
    ) -> None:
        setter = object.__setattr__
        setter(self, "extension_id", extension_id)
        setter(self, "function_name", function_name)
        setter(self, "function_version", function_version)
        setter(self, "handler", handler)
        setter(self, "account_id", account_id)

    def _fields(self) -> tuple[str, str, str, str, str | None]:
        return (self.extension_id, self.function_name, self.function_version, self.handler, self.account_id)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: Registration is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: Registration is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Registration) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"Registration(extension_id={self.extension_id!r}, function_name={self.function_name!r}, "
            f"function_version={self.function_version!r}, handler={self.handler!r}, "
            f"account_id={self.account_id!r})"
        )


def _json_string(value: str) -> str:
    """A JSON string literal for `value` (what json.dumps would write, without importing json)."""
    out = ['"']
    for ch in value:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch < " " or ch > "~":
            code = ord(ch)
            if code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:  # outside the BMP: a UTF-16 surrogate pair, as json.dumps writes it
                code -= 0x10000
                out.append(f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_object(fields: dict[str, str | list[str]]) -> bytes:
    parts = []
    for key, value in fields.items():
        if isinstance(value, list):
            rendered = "[" + ", ".join(_json_string(v) for v in value) + "]"
        else:
            rendered = _json_string(value)
        parts.append(f"{_json_string(key)}: {rendered}")
    return ("{" + ", ".join(parts) + "}").encode("ascii")


def register(runtime_api: str, name: str, events: list[str]) -> Registration:
    """POST /register with the `accountId` feature; raises ExtensionsApiError on refusal."""
    status, headers, body = request(
        runtime_api,
        "POST",
        f"{API_PREFIX}/register",
        _json_object({"events": events}),
        {
            "Lambda-Extension-Name": name,
            "Lambda-Extension-Accept-Feature": "accountId",
            "Content-Type": "application/json",
        },
        timeout=10.0,
    )
    if status != 200 or "lambda-extension-identifier" not in headers:
        raise ExtensionsApiError("register", status, body.decode(errors="replace"))
    import json  # registered already: the runtime's init has started, this overlaps it

    info: dict[str, object] = {}
    try:
        parsed = json.loads(body or b"{}")
        info = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        pass
    return Registration(
        extension_id=headers["lambda-extension-identifier"],
        function_name=str(info.get("functionName", "")),
        function_version=str(info.get("functionVersion", "")),
        handler=str(info.get("handler", "")),
        account_id=str(info["accountId"]) if info.get("accountId") else None,
    )


def register_with_fallback(
    runtime_api: str, name: str, events: list[str]
) -> tuple[Registration, tuple[str, ...], list[str]]:
    """Register, giving up lifecycle events the platform refuses instead of failing init.

    Returns the registration, the events it holds and one note per concession to log. An
    `Extension.InvalidEventType` refusal (INVOKE on Lambda Managed Instances) is retried with
    SHUTDOWN only, then with no events; an HTTP 5xx or a refused or broken connection is retried a few
    times. Anything else, or the last failure, is raised: an extension that is not registered
    cannot keep init going (Lambda waits for every launched extension to register).
    """
    wanted = list(events)
    notes: list[str] = []
    failures = 0
    while True:
        try:
            return register(runtime_api, name, wanted), tuple(wanted), notes
        except ExtensionsApiError as exc:
            if exc.status == 403 and exc.error_type == INVALID_EVENT_TYPE and wanted:
                fewer = ["SHUTDOWN"] if "INVOKE" in wanted else []
                kept = fewer or "no events"
                notes.append(f"the platform refused events {wanted} ({exc}); registering for {kept} instead")
                wanted = fewer
                continue
            if exc.status < 500:
                raise
            error: Exception = exc
        except TimeoutError:
            raise  # ten silent seconds: init has run out of time, and we may be registered already
        except OSError as exc:
            error = exc
        failures += 1
        if failures >= REGISTER_ATTEMPTS:
            raise error
        notes.append(f"register attempt {failures} failed ({error}); retried")
        time.sleep(REGISTER_RETRY_PAUSE_S * failures)


def report_error(runtime_api: str, extension_id: str, kind: str, error_type: str, message: str) -> int:
    """POST /init/error or /exit/error (`kind` = "init" | "exit"); returns the HTTP status."""
    status, _, _ = request(
        runtime_api,
        "POST",
        f"{API_PREFIX}/{kind}/error",
        _json_object({"errorMessage": message, "errorType": error_type}),
        {
            "Lambda-Extension-Identifier": extension_id,
            "Lambda-Extension-Function-Error-Type": error_type,
            "Content-Type": "application/json",
        },
        timeout=5.0,
    )
    return status

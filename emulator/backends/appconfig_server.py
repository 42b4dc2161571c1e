"""A small, faithful AppConfig data-plane server for tests (moto has no AppConfigData).

Written from botocore's service model (`botocore/data/appconfigdata/2021-11-11/service-2.json`):

- `POST /configurationsessions` (StartConfigurationSession): JSON with ApplicationIdentifier,
  EnvironmentIdentifier, ConfigurationProfileIdentifier (names or IDs) and an optional
  RequiredMinimumPollIntervalInSeconds (15..86400); 201 `{"InitialConfigurationToken": ...}`.
- `GET /configuration?configuration_token=...` (GetLatestConfiguration): every token is single-use
  (reuse -> 400 BadRequestException), valid for `token_ttl_s` (24 h by default; expired -> 400);
  returns the configuration only when the deployed version changed since the session's previous
  poll, an empty body otherwise; headers `Next-Poll-Configuration-Token`,
  `Next-Poll-Interval-In-Seconds`, `Content-Type`, `Version-Label` (when the version has one) and
  `Configuration-Version` [inf: the agent reports it; not in the public model].
- Unknown application/environment/profile -> 404 ResourceNotFoundException. Errors are REST-JSON:
  `x-amzn-ErrorType` header and `{"Message": ...}`.

Tests deploy versions with `server.deploy(...)`; `server.counts` counts calls per operation.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from emulator.backends.background_http import BackgroundHttpServer

DEFAULT_POLL_INTERVAL_S = 60


@dataclass
class Version:
    number: int
    content: bytes
    content_type: str
    label: str | None


@dataclass
class Profile:
    names: set[str]  # (application, environment, profile) identifiers accepted, names and IDs
    versions: list[Version] = field(default_factory=list)


@dataclass
class Session:
    profile_key: tuple[str, str, str]
    poll_interval_s: int
    last_version: int = 0


@dataclass
class Token:
    session: Session
    issued_at: float
    used: bool = False


class AppConfigDataServer(BackgroundHttpServer):
    def __init__(self, *, token_ttl_s: float = 24 * 3600, clock: Callable[[], float] = time.time) -> None:
        self.token_ttl_s = token_ttl_s
        self.clock = clock
        self.counts: Counter[str] = Counter()
        #: The SigV4 `Credential=` of each request (access key id/date/region/service/aws4_request),
        #: so tests can tell whose credentials and which region signed it.
        self.signed_with: list[str] = []
        self._profiles: dict[tuple[str, str, str], list[Version]] = {}
        self._aliases: dict[tuple[str, str, str], tuple[str, str, str]] = {}
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()
        super().__init__()

    def deploy(
        self,
        application: str,
        environment: str,
        profile: str,
        content: bytes | str,
        *,
        content_type: str = "application/json",
        version_label: str | None = None,
        ids: tuple[str, str, str] | None = None,
    ) -> int:
        """Deploy a new version (names, plus optional IDs that also address it); returns its number."""
        key = (application, environment, profile)
        body = content.encode() if isinstance(content, str) else content
        with self._lock:
            versions = self._profiles.setdefault(key, [])
            versions.append(Version(len(versions) + 1, body, content_type, version_label))
            self._aliases[key] = key
            if ids is not None:
                for app in (application, ids[0]):
                    for env in (environment, ids[1]):
                        for prof in (profile, ids[2]):
                            self._aliases[(app, env, prof)] = key
            return len(versions)

    def record_signature(self, authorization: str | None) -> None:
        _, found, rest = (authorization or "").partition("Credential=")
        if found:
            self.signed_with.append(rest.split(",", 1)[0].strip())

    def expire_all_tokens(self) -> None:
        with self._lock:
            for token in self._tokens.values():
                token.issued_at = -1e12

    # ---- operations ------------------------------------------------------------------------

    def _new_token(self, session: Session) -> str:
        token = secrets.token_urlsafe(48)
        self._tokens[token] = Token(session, self.clock())
        return token

    def start_session(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "BadRequestException", "Request body is not valid JSON")
        fields = ("ApplicationIdentifier", "EnvironmentIdentifier", "ConfigurationProfileIdentifier")
        if not isinstance(request, dict) or not all(
            isinstance(request.get(f), str) and request[f] for f in fields
        ):
            return _error(400, "BadRequestException", "Missing required identifiers")
        interval = request.get("RequiredMinimumPollIntervalInSeconds")
        if interval is not None and (not isinstance(interval, int) or not 15 <= interval <= 86400):
            return _error(
                400, "BadRequestException", "RequiredMinimumPollIntervalInSeconds must be 15..86400"
            )
        with self._lock:
            key = self._aliases.get(tuple(request[f] for f in fields))
            if key is None:
                return _error(
                    404, "ResourceNotFoundException", "Configuration profile not found", resource=True
                )
            token = self._new_token(Session(key, interval or DEFAULT_POLL_INTERVAL_S))
        return (
            201,
            {"Content-Type": "application/json"},
            json.dumps({"InitialConfigurationToken": token}).encode(),
        )

    def get_latest(self, query: str) -> tuple[int, dict[str, str], bytes]:
        values = parse_qs(query).get("configuration_token") or [""]
        with self._lock:
            token = self._tokens.get(values[0])
            if token is None:
                return _error(400, "BadRequestException", "Token is invalid", problem="Corrupted")
            if token.used:
                return _error(400, "BadRequestException", "Token has already been used", problem="Corrupted")
            if self.clock() - token.issued_at > self.token_ttl_s:
                return _error(400, "BadRequestException", "Token has expired", problem="Expired")
            token.used = True
            session = token.session
            versions = self._profiles[session.profile_key]
            headers = {
                "Next-Poll-Configuration-Token": self._new_token(session),
                "Next-Poll-Interval-In-Seconds": str(session.poll_interval_s),
            }
            latest = versions[-1]
            if latest.number == session.last_version:
                headers["Content-Type"] = latest.content_type
                return 200, headers, b""
            session.last_version = latest.number
            headers["Content-Type"] = latest.content_type
            headers["Configuration-Version"] = str(latest.number)
            if latest.label:
                headers["Version-Label"] = latest.label
            return 200, headers, latest.content

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                if parts.path != "/configurationsessions":
                    return self._answer(*_error(404, "UnknownOperationException", "Unknown operation"))
                server.counts["StartConfigurationSession"] += 1
                server.record_signature(self.headers.get("Authorization"))
                if "Authorization" not in self.headers:
                    return self._answer(*_error(403, "MissingAuthenticationTokenException", "Missing auth"))
                self._answer(*server.start_session(body))

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/configuration":
                    return self._answer(*_error(404, "UnknownOperationException", "Unknown operation"))
                server.counts["GetLatestConfiguration"] += 1
                server.record_signature(self.headers.get("Authorization"))
                if "Authorization" not in self.headers:
                    return self._answer(*_error(403, "MissingAuthenticationTokenException", "Missing auth"))
                self._answer(*server.get_latest(parts.query))

        return Handler


def _error(
    status: int, code: str, message: str, *, problem: str | None = None, resource: bool = False
) -> tuple[int, dict[str, str], bytes]:
    doc: dict[str, object] = {"Message": message}
    if problem:
        doc["Reason"] = "InvalidParameters"
        doc["Details"] = {"InvalidParameters": {"ConfigurationToken": {"Problem": problem}}}
    if resource:
        doc["ResourceType"] = "ConfigurationProfile"
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
    return status, headers, json.dumps(doc).encode()

"""AppConfig data plane: configuration sessions with single-use poll tokens.

StartConfigurationSession gives a token; each GetLatestConfiguration consumes it and returns the
next one, plus the configuration only when it changed since the session's previous poll (an empty
body means "unchanged": we keep the last body). A token is taken out of the session before the
call, so a call that fails or is cut off by a freeze never leaves a used token behind: the next
poll simply starts a new session. An expired or rejected token (BadRequestException) restarts the
session once within the same fetch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from extension.cache.aws import AwsClient
from extension.cache.errors import UpstreamError
from extension.cache.providers.entries import ConfigPayload
from extension.config import AppConfigTarget

SERVICE = "appconfigdata"
TOKEN_MAX_AGE_S = 23 * 3600  # tokens are valid for up to 24 h; start over a little before
MIN_REQUIRED_POLL_S = 15  # RequiredMinimumPollIntervalInSeconds range is 15..86400


@dataclass
class _Session:
    token: str
    issued_at: float


class AppConfigProvider:
    def __init__(
        self,
        client: AwsClient,
        *,
        region: str | None,
        poll_interval_s: float,
        timeout_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._region = region
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self._clock = clock
        self._sessions: dict[AppConfigTarget, _Session] = {}
        self.sessions_started = 0

    def ttl(self, target: AppConfigTarget) -> float:
        return self.poll_interval_s

    async def _start_session(self, target: AppConfigTarget) -> str:
        request: dict[str, object] = {
            "ApplicationIdentifier": target.application,
            "EnvironmentIdentifier": target.environment,
            "ConfigurationProfileIdentifier": target.profile,
        }
        if self.poll_interval_s >= MIN_REQUIRED_POLL_S:
            request["RequiredMinimumPollIntervalInSeconds"] = min(86400, int(self.poll_interval_s))
        resp = await self._client.request(
            SERVICE,
            "POST",
            "/configurationsessions",
            "",
            {"Content-Type": "application/json"},
            json.dumps(request).encode(),
            region=self._region,
            timeout_s=self.timeout_s,
        )
        self.sessions_started += 1
        try:
            token = json.loads(resp.body)["InitialConfigurationToken"]
        except (ValueError, KeyError, TypeError):
            token = None
        if not isinstance(token, str) or not token:
            raise UpstreamError("InternalServerException", "no InitialConfigurationToken in the answer", 502)
        return token

    async def fetch(self, target: AppConfigTarget, previous: ConfigPayload | None) -> ConfigPayload:
        for attempt in (1, 2):
            session = self._sessions.pop(target, None)
            if session is not None and self._clock() - session.issued_at > TOKEN_MAX_AGE_S:
                session = None
            fresh = session is None
            token = await self._start_session(target) if session is None else session.token
            try:
                resp = await self._client.request(
                    SERVICE,
                    "GET",
                    "/configuration",
                    "configuration_token=" + quote(token, safe=""),
                    {},
                    b"",
                    region=self._region,
                    timeout_s=self.timeout_s,
                )
            except UpstreamError as err:
                if err.code == "BadRequestException" and not fresh and attempt == 1:
                    continue  # expired or already used token: start a new session once
                raise
            next_token = resp.headers.get("Next-Poll-Configuration-Token")
            if next_token:
                self._sessions[target] = _Session(next_token, self._clock())
            if not resp.body:
                if previous is not None:
                    return previous  # unchanged since our last poll
                if not fresh and attempt == 1:
                    self._sessions.pop(target, None)  # we lost the body (evicted): start over
                    continue
            return ConfigPayload(
                body=resp.body,
                content_type=resp.headers.get("Content-Type") or "application/octet-stream",
                version_label=resp.headers.get("Version-Label") or None,
                configuration_version=resp.headers.get("Configuration-Version") or None,
            )
        raise UpstreamError("BadRequestException", "configuration session could not be renewed", 400)

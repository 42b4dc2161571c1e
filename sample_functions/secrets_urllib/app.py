"""Reads a secret and a parameter (port 2773) and a feature flag (port 2772) with plain urllib,
exactly as the AWS documentation shows for its layers: once at cold start, then on every invoke.

Copy this folder, attach the lambda-sidecar layer and set SECRET_ID, PARAMETER_NAME,
APPCONFIG_APPLICATION, APPCONFIG_ENVIRONMENT, APPCONFIG_PROFILE and FEATURE_FLAG. Repeated reads
are served from the extension's cache (sub-millisecond). The secret's value is used, never
logged or returned.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
import urllib.request
from typing import Any

logger = logging.getLogger()
logger.setLevel(logging.INFO)

SECRETS_ENDPOINT = f"http://localhost:{os.environ.get('PARAMETERS_SECRETS_EXTENSION_HTTP_PORT', '2773')}"
APPCONFIG_ENDPOINT = f"http://localhost:{os.environ.get('AWS_APPCONFIG_EXTENSION_HTTP_PORT', '2772')}"
TIMEOUT_S = 5.0
# The token header carries the session token: never let an HTTP(S)_PROXY variable route it.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str, with_token: bool = True) -> bytes:
    headers: dict[str, str] = {}
    if with_token:
        headers["X-Aws-Parameters-Secrets-Token"] = os.environ.get("AWS_SESSION_TOKEN", "")
    with _opener.open(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S) as response:
        data: bytes = response.read()
        return data


def get_secret(secret_id: str) -> dict[str, Any]:
    """The GetSecretValue answer (SecretString, VersionId, ...)."""
    query = urllib.parse.urlencode({"secretId": secret_id})
    result: dict[str, Any] = json.loads(_get(f"{SECRETS_ENDPOINT}/secretsmanager/get?{query}"))
    return result


def get_parameter(name: str, decrypt: bool = False) -> str:
    query = urllib.parse.urlencode({"name": name, "withDecryption": "true" if decrypt else "false"})
    body = json.loads(_get(f"{SECRETS_ENDPOINT}/systemsmanager/parameters/get?{query}"))
    value: str = body["Parameter"]["Value"]
    return value


def get_feature_flag(application: str, environment: str, profile: str, flag: str) -> dict[str, Any]:
    """One flag of an AppConfig feature-flags profile, e.g. {"enabled": true}."""
    path = "/".join(
        urllib.parse.quote(part, safe="")
        for part in ("applications", application, "environments", environment, "configurations", profile)
    )
    query = urllib.parse.urlencode({"flag": flag})
    result: dict[str, Any] = json.loads(_get(f"{APPCONFIG_ENDPOINT}/{path}?{query}", with_token=False))
    return result


def load_configuration() -> dict[str, Any]:
    """Everything the function needs, in a shape that is safe to log and return."""
    secret = get_secret(os.environ["SECRET_ID"])
    secret_string = secret.get("SecretString") or ""
    flag_name = os.environ["FEATURE_FLAG"]
    flag = get_feature_flag(
        os.environ["APPCONFIG_APPLICATION"],
        os.environ["APPCONFIG_ENVIRONMENT"],
        os.environ["APPCONFIG_PROFILE"],
        flag_name,
    )
    return {
        # Describe the secret without revealing it: name, version, size.
        "secret": {
            "name": secret.get("Name"),
            "version": secret.get("VersionId"),
            "length": len(secret_string),
        },
        "parameter": get_parameter(os.environ["PARAMETER_NAME"]),
        "feature_flag": {"name": flag_name, "enabled": bool(flag.get("enabled"))},
    }


# Cold start: read once during init (the extension is already serving: it binds its ports before
# Lambda starts the runtime). A failure here is not fatal: the handler reads again.
try:
    _config = load_configuration()
    logger.info("cold start: configuration loaded (flag %s)", _config["feature_flag"])
    COLD_START_CONFIG: dict[str, Any] | None = _config
except (OSError, ValueError, KeyError) as exc:
    COLD_START_CONFIG = None
    logger.warning("cold start: configuration not loaded (%s); reading it per invoke", exc.__class__.__name__)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    configuration = load_configuration()  # cached by the extension: cheap on every invoke
    logger.info("configuration read for %s", context.aws_request_id)
    return {**configuration, "cold_start_read": COLD_START_CONFIG is not None}

"""Reads a secret and a parameter (port 2773) and a feature flag (port 2772) with one module-level
`requests.Session`, so every read after the first reuses a kept-alive connection.

Same configuration as secrets_urllib (SECRET_ID, PARAMETER_NAME, APPCONFIG_APPLICATION,
APPCONFIG_ENVIRONMENT, APPCONFIG_PROFILE, FEATURE_FLAG); `requests` comes from requirements.txt.
The secret's value is used, never logged or returned.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import quote

import requests

logger = logging.getLogger()
logger.setLevel(logging.INFO)

SECRETS_ENDPOINT = f"http://localhost:{os.environ.get('PARAMETERS_SECRETS_EXTENSION_HTTP_PORT', '2773')}"
APPCONFIG_ENDPOINT = f"http://localhost:{os.environ.get('AWS_APPCONFIG_EXTENSION_HTTP_PORT', '2772')}"
TIMEOUT_S = 5.0

session = requests.Session()
# The token header carries the session token: ignore HTTP(S)_PROXY and .netrc for these calls.
session.trust_env = False


def _token() -> dict[str, str]:
    return {"X-Aws-Parameters-Secrets-Token": os.environ.get("AWS_SESSION_TOKEN", "")}


def get_secret(secret_id: str) -> dict[str, Any]:
    response = session.get(
        f"{SECRETS_ENDPOINT}/secretsmanager/get",
        params={"secretId": secret_id},
        headers=_token(),
        timeout=TIMEOUT_S,
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def get_parameter(name: str, decrypt: bool = False) -> str:
    response = session.get(
        f"{SECRETS_ENDPOINT}/systemsmanager/parameters/get",
        params={"name": name, "withDecryption": "true" if decrypt else "false"},
        headers=_token(),
        timeout=TIMEOUT_S,
    )
    response.raise_for_status()
    value: str = response.json()["Parameter"]["Value"]
    return value


def get_feature_flag(application: str, environment: str, profile: str, flag: str) -> dict[str, Any]:
    app, env, prof = (quote(part, safe="") for part in (application, environment, profile))
    response = session.get(
        f"{APPCONFIG_ENDPOINT}/applications/{app}/environments/{env}/configurations/{prof}",
        params={"flag": flag},
        timeout=TIMEOUT_S,
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def load_configuration() -> dict[str, Any]:
    secret = get_secret(os.environ["SECRET_ID"])
    flag_name = os.environ["FEATURE_FLAG"]
    flag = get_feature_flag(
        os.environ["APPCONFIG_APPLICATION"],
        os.environ["APPCONFIG_ENVIRONMENT"],
        os.environ["APPCONFIG_PROFILE"],
        flag_name,
    )
    return {
        "secret": {
            "name": secret.get("Name"),
            "version": secret.get("VersionId"),
            "length": len(secret.get("SecretString") or ""),
        },
        "parameter": get_parameter(os.environ["PARAMETER_NAME"]),
        "feature_flag": {"name": flag_name, "enabled": bool(flag.get("enabled"))},
    }


try:  # cold start read (see secrets_urllib): not fatal, the handler reads again
    _config = load_configuration()
    logger.info("cold start: configuration loaded (flag %s)", _config["feature_flag"])
    COLD_START_CONFIG: dict[str, Any] | None = _config
except (requests.RequestException, ValueError, KeyError) as exc:
    COLD_START_CONFIG = None
    logger.warning("cold start: configuration not loaded (%s); reading it per invoke", exc.__class__.__name__)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    configuration = load_configuration()
    logger.info("configuration read for %s", context.aws_request_id)
    return {**configuration, "cold_start_read": COLD_START_CONFIG is not None}

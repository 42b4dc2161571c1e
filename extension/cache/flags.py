"""AppConfig feature-flag filtering for `GET ...?flag=` on port 2772: pure JSON work, kept apart
from the AppConfig provider so the endpoints do not import the AWS client stack."""

from __future__ import annotations

import json


def filter_flags(body: bytes, flags: list[str]) -> bytes:
    """Only the requested feature flags of an `AWS.AppConfig.FeatureFlags` document: one flag gives
    that flag's object, several give `{key: object}` [inf: the AWS agent's exact single-flag shape].
    Raises ValueError when the body is not a JSON object, KeyError naming the first unknown flag."""
    doc = json.loads(body)
    if not isinstance(doc, dict):
        raise ValueError("configuration is not a JSON object")
    flags = list(dict.fromkeys(flags))
    for flag in flags:
        if flag not in doc:
            raise KeyError(flag)
    selected = doc[flags[0]] if len(flags) == 1 else {f: doc[f] for f in flags}
    return json.dumps(selected, separators=(",", ":")).encode()

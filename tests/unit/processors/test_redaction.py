"""The redaction rules on their own: what they catch, what they leave alone, and counting."""

from __future__ import annotations

import json
from typing import Any

import pytest

from extension.processors.redaction import MAX_DEPTH, REDACTED, Redactor, SecretRegistry

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "[REDACTED]"),
        ("id=ASIAXXXXXXXXXXXXXXXX;", "id=[REDACTED];"),
        ("AKIAshort", "AKIAshort"),
        (f"aws_secret_access_key = {SECRET}", "aws_secret_access_key = [REDACTED]"),
        (f'{{"SecretAccessKey": "{SECRET}"}}', '{"SecretAccessKey": "[REDACTED]"}'),
        (f"AWS_SECRET_ACCESS_KEY={SECRET}x", "AWS_SECRET_ACCESS_KEY=[REDACTED]"),  # by key name: any length
        (SECRET, SECRET),  # a bare 40-char string is too ambiguous to redact
        ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer [REDACTED]"),
        ("token is bearer xyz123==", "token is bearer [REDACTED]"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]"),
        ("access denied for user", "access denied for user"),
        ("", ""),
    ],
)
def test_default_rules(text: str, expected: str) -> None:
    assert Redactor.from_settings(True, ()).text(text) == expected


def test_unchanged_values_are_returned_as_is() -> None:
    r = Redactor.from_settings(True, ())
    value = {"a": ["x", {"b": "y"}], "n": 1}
    assert r.value(value) is value
    assert r.count == 0


def test_nested_values_and_count() -> None:
    r = Redactor.from_settings(True, ())
    value: dict[str, Any] = {"a": ["AKIAIOSFODNN7EXAMPLE", {"b": "Bearer t0ken"}], "n": 1}
    out = r.value(value)
    assert out == {"a": ["[REDACTED]", {"b": "Bearer [REDACTED]"}], "n": 1}
    assert value["a"][0] == "AKIAIOSFODNN7EXAMPLE"  # the input is not mutated
    assert r.count == 2


def test_user_patterns_and_invalid_ones_skipped() -> None:
    r = Redactor.from_settings(False, (r"\d{3}-\d{2}-\d{4}", "([unclosed", r"(?i)password=\S+"))
    assert r.text("ssn 123-45-6789 PASSWORD=hunter2 AKIAIOSFODNN7EXAMPLE") == (
        "ssn [REDACTED] [REDACTED] AKIAIOSFODNN7EXAMPLE"
    )
    assert len(r.rules) == 2 and r.active
    assert not Redactor.from_settings(False, ()).active


# ---- the credential shapes functions really print (issue 18 item 2) ----------------------------

#: An STS session token as AWS issues them (the real ones are several hundred characters long).
STS_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6Ex4mPLE+TOKEN/value=="
#: What botocore prints for `session.get_credentials().get_frozen_credentials()`.
FROZEN = f"ReadOnlyCredentials(access_key='ASIAIOSFODNN7EXAMPLE', secret_key='{SECRET}', token='{STS_TOKEN}')"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            FROZEN,
            "ReadOnlyCredentials(access_key='[REDACTED]', secret_key='[REDACTED]', token='[REDACTED]')",
        ),
        (f"export AWS_SESSION_TOKEN={STS_TOKEN}", "export AWS_SESSION_TOKEN=[REDACTED]"),
        (f"token in a url: X-Amz-Security-Token={STS_TOKEN}&X-Amz-Date=1", None),
        (f"bare {STS_TOKEN} token", "bare [REDACTED] token"),
        (
            f'{{"Credentials": {{"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "{SECRET}", '
            f'"SessionToken": "{STS_TOKEN}", "Expiration": "2026-03-01T11:15:30Z"}}}}',
            '{"Credentials": {"AccessKeyId": "[REDACTED]", "SecretAccessKey": "[REDACTED]", '
            '"SessionToken": "[REDACTED]", "Expiration": "2026-03-01T11:15:30Z"}}',
        ),
        ("aws_secret_access_key: short-but-secret", "aws_secret_access_key: [REDACTED]"),
        ("{'aws_session_token': 'abc123456'}", "{'aws_session_token': '[REDACTED]'}"),
        ("db password=hunter2&user=bob", "db password=[REDACTED]&user=bob"),
        ('{"api_key": 12345678, "n": 1}', '{"api_key": "[REDACTED]", "n": 1}'),
        # JSON held in a JSON string keeps its escaping
        ('{"body": "{\\"password\\": \\"hunter2\\"}"}', '{"body": "{\\"password\\": \\"[REDACTED]\\"}"}'),
        # left alone: not credential keys, or `token` without a quoted value
        (
            "max_tokens=100 next_token_count=3 token: expired",
            "max_tokens=100 next_token_count=3 token: expired",
        ),
        ('{"isSecret": true, "password": null}', '{"isSecret": true, "password": null}'),
        ("the secret santa list is ready", "the secret santa list is ready"),
    ],
)
def test_credential_shapes_in_text(text: str, expected: str | None) -> None:
    out = Redactor.from_settings(True, ()).text(text)
    if expected is None:
        assert STS_TOKEN not in out and "X-Amz-Date=1" in out
    else:
        assert out == expected


def test_redacted_json_text_stays_json() -> None:
    text = json.dumps({"SecretAccessKey": SECRET, "token": "t0ken-value", "api_key": 42, "ok": [1, "x"]})
    out = Redactor.from_settings(True, ()).text(text)
    assert json.loads(out) == {
        "SecretAccessKey": REDACTED,
        "token": REDACTED,
        "api_key": REDACTED,
        "ok": [1, "x"],
    }


def test_object_keys_are_redacted_whatever_the_value() -> None:
    """JSON log format: records arrive as objects, and a value need not look like a secret."""
    r = Redactor.from_settings(True, ())
    record = {
        "message": "assumed role",
        "Credentials": {"AccessKeyId": "id", "SecretAccessKey": "s3cr3t-value", "SessionToken": "tok-value"},
        "env": {"aws_secret_access_key": "x", "AWS_SESSION_TOKEN": 42, "token": "t"},
        "config": {"password": {"old": "a", "new": "b"}, "passwordHint": "pets", "isSecret": True},
        "tokens": 5,
    }
    out = r.value(record)
    assert out["Credentials"] == {"AccessKeyId": "id", "SecretAccessKey": REDACTED, "SessionToken": REDACTED}
    assert out["env"] == {"aws_secret_access_key": REDACTED, "AWS_SESSION_TOKEN": REDACTED, "token": REDACTED}
    assert out["config"] == {"password": REDACTED, "passwordHint": "pets", "isSecret": True}
    assert out["tokens"] == 5 and out["message"] == "assumed role"
    assert record["Credentials"]["SecretAccessKey"] == "s3cr3t-value"  # the input is not mutated
    assert r.count == 6


def test_what_lies_past_the_depth_limit_is_redacted_not_passed_through() -> None:
    r = Redactor.from_settings(True, ())
    deep: dict[str, Any] = {"leaf": "harmless"}
    for _ in range(MAX_DEPTH + 3):
        deep = {"k": [deep]}
    out = r.value(deep)
    node: Any = out
    for _ in range(MAX_DEPTH // 2 - 1):  # a dict and a list per level: containers 0..MAX_DEPTH-1 kept
        node = node["k"][0]
    assert node == {"k": [REDACTED]}
    assert "harmless" not in json.dumps(out)
    assert r.count == 1
    shallow = {"k": [{"k": "v"}]}
    assert r.value(shallow) is shallow  # below the limit nothing changes


def test_own_credentials_are_redacted_as_exact_values_even_with_defaults_off() -> None:
    own_secret, own_token = "emulator/secret/access/key/example0000000", "emulator-session-token-0123abcd"
    r = Redactor.from_settings(False, (), literals=(own_secret, own_token, None, "short"))
    assert r.text(f"env dump: {own_secret} {own_token}") == f"env dump: {REDACTED} {REDACTED}"
    assert r.value({"x": [own_token]}) == {"x": [REDACTED]}
    assert r.text("short strings are not registered") == "short strings are not registered"
    assert r.count == 3


def test_secrets_registered_at_run_time_are_picked_up() -> None:
    registry = SecretRegistry()
    r = Redactor(Redactor.from_settings(True, ()).rules, (), registry)
    header_secret = "sk_live_resolved_from_secrets_manager"
    before = {"headers": {"x-custom": header_secret}}
    assert r.value(before) is before  # not known yet
    registry.add(header_secret)
    registry.add("tiny")  # too short to redact safely: ignored
    assert r.value(before) == {"headers": {"x-custom": REDACTED}}
    assert r.text(f"sent with {header_secret}, tiny") == f"sent with {REDACTED}, tiny"


async def test_a_resolved_exporter_header_secret_is_redacted_from_then_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The resolver of `${secretsmanager:...}` header references registers every value it hands
    out, so a function that prints the key (with no recognisable key name) has it redacted."""
    from extension.exporters.secret_refs import CachingResolver, find_refs

    resolved = "dd-key-resolved-0123456789abcdef"

    async def resolve(service: str, name: str, fresh: bool = False) -> str:
        return resolved

    r = Redactor.from_settings(False, ())
    line = f"debug: using {resolved}"
    assert r.text(line) == line
    (ref,) = find_refs("${secretsmanager:prod/dd}")
    assert await CachingResolver(resolve).value(ref) == resolved
    assert r.text(line) == f"debug: using {REDACTED}"

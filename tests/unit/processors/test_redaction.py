"""The redaction rules on their own: what they catch, what they leave alone, and counting."""

from __future__ import annotations

from typing import Any

import pytest

from extension.processors.redaction import Redactor

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "[REDACTED]"),
        ("id=ASIAXXXXXXXXXXXXXXXX;", "id=[REDACTED];"),
        ("AKIAshort", "AKIAshort"),
        (f"aws_secret_access_key = {SECRET}", "aws_secret_access_key = [REDACTED]"),
        (f'{{"SecretAccessKey": "{SECRET}"}}', '{"SecretAccessKey": "[REDACTED]"}'),
        (f"AWS_SECRET_ACCESS_KEY={SECRET}x", f"AWS_SECRET_ACCESS_KEY={SECRET}x"),  # 41 chars: not a key
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

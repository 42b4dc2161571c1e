"""One reading of a JSON secret's key for the 2773 `jsonKey` parameter and for exporter header
references (`${secretsmanager:NAME#key}`)."""

from __future__ import annotations

import pytest

from extension.cache.json_key import JsonKeyError, json_key_value


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ('{"a": "x"}', "a", "x"),
        ('{"n": 5}', "n", 5),
        ('{"o": {"p": 1}}', "o", {"p": 1}),
        ('{"z": null}', "z", None),
    ],
)
def test_values_of_any_json_type(text: str, key: str, value: object) -> None:
    assert json_key_value(text, key) == value


@pytest.mark.parametrize(
    ("text", "missing"), [('{"a": 1}', True), ("[1]", False), ("not json", False), (None, False)]
)
def test_failures_say_which(text: str | None, missing: bool) -> None:
    with pytest.raises(JsonKeyError) as caught:
        json_key_value(text, "b")
    assert caught.value.missing is missing
    assert "not json" not in str(caught.value)  # never the secret's text

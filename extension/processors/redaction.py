"""Regex redaction of sensitive values in log bodies and string attributes.

Most lines contain nothing to redact, so the hot path is one scan with a single combined
pattern; only a line that matches pays for the per-rule substitutions. Rules replace the
secret with `[REDACTED]` and keep the surrounding key (`Bearer [REDACTED]`) so the log line
still says what was there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

REDACTED = "[REDACTED]"
_MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    replacement: str


#: Built-in rules (SIDECAR_REDACT_DEFAULTS): AWS key ids, secret access keys after their key
#: name, bearer tokens and HTTP basic credentials.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),
    Rule(
        "aws_secret_access_key",
        re.compile(r"((?i:(?:aws_?)?secret_?access_?key)[\"']?\s*[=:]\s*[\"']?)[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"),
        r"\g<1>" + REDACTED,
    ),
    Rule("bearer_token", re.compile(r"(\b(?i:bearer)\s+)[A-Za-z0-9\-._~+/]+=*"), r"\g<1>" + REDACTED),
    Rule("basic_auth", re.compile(r"(\b(?i:authorization)[\"']?\s*[=:]\s*[\"']?(?i:basic)\s+)[A-Za-z0-9+/]+=*"), r"\g<1>" + REDACTED),
)


class Redactor:
    """Applies the rules; `count` grows by one per replaced value (the caller exports it)."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        self.count = 0
        self._any: re.Pattern[str] | None = None
        if self.rules:
            try:
                self._any = re.compile("|".join(f"(?:{r.pattern.pattern})" for r in self.rules))
            except re.error:  # e.g. a user pattern with global inline flags: scan rule by rule
                self._any = None

    @classmethod
    def from_settings(cls, redact_defaults: bool, patterns: Iterable[str]) -> Redactor:
        """User patterns replace the whole match. Invalid ones were rejected by config parsing;
        one that still fails to compile here is skipped rather than crashing the pipeline."""
        rules = list(DEFAULT_RULES) if redact_defaults else []
        for i, text in enumerate(patterns):
            try:
                rules.append(Rule(f"user_{i}", re.compile(text), REDACTED))
            except re.error:
                continue
        return cls(rules)

    @property
    def active(self) -> bool:
        return bool(self.rules)

    def _matches(self, text: str) -> bool:
        if self._any is not None:
            return self._any.search(text) is not None
        return any(r.pattern.search(text) for r in self.rules)

    def text(self, text: str) -> str:
        if not self.rules or not self._matches(text):
            return text
        for rule in self.rules:
            text, n = rule.pattern.subn(rule.replacement, text)
            self.count += n
        return text

    def value(self, value: Any, depth: int = 0) -> Any:
        """Redact strings inside a JSON-like value (nested dicts/lists up to a bounded depth)."""
        if isinstance(value, str):
            return self.text(value)
        if depth >= _MAX_DEPTH:
            return value
        if isinstance(value, dict):
            return {k: self.value(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, depth + 1) for v in value]
        return value

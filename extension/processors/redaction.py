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
    """`hints`: literal substrings one of which every match contains; a line holding none of
    them skips the regex (a substring test is ~50x cheaper than a regex scan)."""

    name: str
    pattern: re.Pattern[str]
    replacement: str
    hints: tuple[str, ...] = ()


#: Built-in rules (SIDECAR_REDACT_DEFAULTS): AWS key ids, secret access keys after their key
#: name, bearer tokens and HTTP basic credentials.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED, ("AKIA", "ASIA")),
    Rule(
        "aws_secret_access_key",
        re.compile(
            r"((?i:(?:aws_?)?secret_?access_?key)[\"']?\s*[=:]\s*[\"']?)[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"
        ),
        r"\g<1>" + REDACTED,
        ("ccess", "CCESS"),
    ),
    Rule(
        "bearer_token",
        re.compile(r"(\b(?i:bearer)\s+)[A-Za-z0-9\-._~+/]+=*"),
        r"\g<1>" + REDACTED,
        ("earer", "EARER"),
    ),
    Rule(
        "basic_auth",
        re.compile(r"(\b(?i:authorization)[\"']?\s*[=:]\s*[\"']?(?i:basic)\s+)[A-Za-z0-9+/]+=*"),
        r"\g<1>" + REDACTED,
        ("asic", "ASIC"),
    ),
)


class Redactor:
    """Applies the rules; `count` grows by one per replaced value (the caller exports it)."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        self.count = 0
        # When every rule has hints, an object whose string values hold no hint at all is skipped
        # with one scan of their concatenation (the common case for JSON log records).
        self._hints: tuple[str, ...] | None = (
            tuple(h for r in self.rules for h in r.hints) if all(r.hints for r in self.rules) else None
        )

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

    def text(self, text: str) -> str:
        """The redacted text; the same object when nothing matched."""
        for rule in self.rules:
            if rule.hints:
                for hint in rule.hints:
                    if hint in text:
                        break
                else:
                    continue
            new, n = rule.pattern.subn(rule.replacement, text)
            if n:
                self.count += n
                text = new
        return text

    def _clean_flat(self, obj: dict[Any, Any]) -> bool:
        """True when `obj` holds only scalars and no string in it contains any hint."""
        strings = []
        for v in obj.values():
            if isinstance(v, str):
                strings.append(v)
            elif isinstance(v, dict | list):
                return False
        joined = "\n".join(strings)
        return not any(h in joined for h in self._hints or ())

    def value(self, value: Any, depth: int = 0) -> Any:
        """Redact strings inside a JSON-like value (nested up to a bounded depth). Returns the
        same object when nothing changed, so callers can tell cheaply (`is`) and copy nothing."""
        if isinstance(value, str):
            return self.text(value)
        if depth >= _MAX_DEPTH:
            return value
        if isinstance(value, dict):
            if self._hints is not None and self._clean_flat(value):
                return value
            changed: dict[Any, Any] | None = None
            for k, v in value.items():
                nv = self.value(v, depth + 1)
                if nv is not v:
                    if changed is None:
                        changed = dict(value)
                    changed[k] = nv
            return value if changed is None else changed
        if isinstance(value, list):
            items = [self.value(v, depth + 1) for v in value]
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        return value

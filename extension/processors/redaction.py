"""Redaction of secrets in log records, by value shape, by key name and by exact value.

What is redacted (each replaced by `[REDACTED]`, the key kept so the line still says what was
there; the README's "Security" section lists the same):

- exact values: the extension's own credentials (`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
  the cache token) and every secret registered at run time with `register_secret` (resolved
  exporter header secrets), wherever they appear;
- by key name, in text (`key=value`, `key: value`, `'key': 'value'`, `"key": "value"`, also
  inside JSON held in a string) and as object keys (JSON log format records): names ending in
  secret access key, secret key, secret string, secret, session / security / access / refresh /
  auth / api token, password, passwd, api key; `token` alone only with a quoted value in text
  (as botocore's `ReadOnlyCredentials(..., token='...')` prints it);
- by shape: AWS access key ids (`AKIA…`/`ASIA…`), STS session tokens (`IQoJb3JpZ2lu…`,
  `FwoGZXIvYXdz…`, `AQoDYXdz…`), bearer tokens, HTTP basic credentials;
- anything nested deeper than `MAX_DEPTH` in an object (replaced whole, never passed through).

The hot path is one lower-casing and a few substring tests: every built-in rule lists the
literal substrings one of which each match contains (its hints), so a record holding none of
them, and none of the exact values, costs no regex at all. An object is checked with one scan of
its strings joined, after one walk that looks up each key (cached) and bounds the depth.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

REDACTED = "[REDACTED]"
#: Containers nested deeper than this inside a record are replaced whole by `[REDACTED]`.
MAX_DEPTH = 16
#: Exact values shorter than this are not registered: they would shred ordinary text.
MIN_SECRET_LENGTH = 8
_KEY_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Rule:
    """`hints`: lower-case substrings one of which the lower-cased text of every match contains;
    a text holding none of them skips the regex (a substring test is ~50x cheaper than a scan).
    A rule without hints (a user pattern) is always run."""

    name: str
    pattern: re.Pattern[str]
    replacement: str | Callable[[re.Match[str]], str]
    hints: tuple[str, ...] = ()


class SecretRegistry:
    """Exact secret values learnt while running (resolved exporter header secrets). Process-wide,
    because a secret is one wherever it appears; redactors pick up additions on their next call."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self.version = 0

    def add(self, value: str) -> None:
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH and value not in self._values:
            self._values.add(value)
            self.version += 1

    def values(self) -> tuple[str, ...]:
        return tuple(self._values)


#: The process-wide registry `register_secret` feeds.
SECRETS = SecretRegistry()


def register_secret(value: str) -> None:
    """Redact `value` (exactly as given) from every log record from now on. Called for each
    secret the extension resolves at run time, such as a `${secretsmanager:...}` header value."""
    SECRETS.add(value)


# ---- key names --------------------------------------------------------------------------------

_SEP = r"[_\-.]?"
#: Key names whose value is a secret whatever it looks like (matched at the end of the key).
_SECRET_KEY_NAME = (
    rf"(?:secret(?:{_SEP}access)?{_SEP}key|secret{_SEP}string"
    rf"|(?:sessions?|security|secrets|access|refresh|auth|api){_SEP}token"
    rf"|pass(?:word|wd)|api{_SEP}key|secret)"
)
#: The same names with separators removed, for object keys.
_SECRET_KEY_SUFFIXES = (
    "secretaccesskey",
    "secretkey",
    "secretstring",
    "sessiontoken",
    "sessionstoken",
    "securitytoken",
    "secretstoken",
    "accesstoken",
    "refreshtoken",
    "authtoken",
    "apitoken",
    "password",
    "passwd",
    "apikey",
    "secret",
)
_KEY_SEPARATORS = str.maketrans("", "", "_-. ")

_DQ = r'"(?:[^"\\\n]|\\.)*"'
_SQ = r"'(?:[^'\\\n]|\\.)*'"
_ESCAPED_DQ = r'\\"(?:[^"\\\n]|\\[^"\n])*\\"'  # JSON held in a JSON string: \"value\"
_UNQUOTED = r"""[^\s"'`,;&{}\[\]()<>\\][^\s"'`,;&{}\[\]()<>]*"""
#: Never re-match our own replacement, nor a JSON literal that cannot be a secret.
_NOT_DONE = r"(?!\\?[\"']?\[REDACTED\])(?!(?:true|false|null)\b)"
_ASSIGN = r"(?P<kq>\\?[\"'])?\s*[=:]\s*"
_QUOTED_NEXT = r"(?=\\?[\"']?\s*[=:]\s*\\?[\"'])"  # `token` counts only with a quoted value
_KEY_VALUE = re.compile(
    rf"(?P<key>(?:(?i:{_SECRET_KEY_NAME})|(?<![A-Za-z0-9_\-.])(?i:token){_QUOTED_NEXT}){_ASSIGN})"
    rf"{_NOT_DONE}(?P<value>{_DQ}|{_SQ}|{_ESCAPED_DQ}|{_UNQUOTED})"
)


def _redact_value(m: re.Match[str]) -> str:
    """Keep the value's quoting, so JSON held in text stays JSON after redaction."""
    value = m.group("value")
    if value.startswith('\\"'):
        quote = '\\"'
    elif value[0] in "\"'":
        quote = value[0]
    else:  # an unquoted value after a quoted key ({"token": 123}) becomes a string
        quote = m.group("kq") or ""
    return m.group("key") + quote + REDACTED + quote


def is_secret_key(key: str) -> bool:
    """True for an object key whose value is redacted whatever it holds."""
    name = key.lower().translate(_KEY_SEPARATORS)
    return name == "token" or name.endswith(_SECRET_KEY_SUFFIXES)


#: Built-in rules (SIDECAR_REDACT_DEFAULTS), in the order they are applied.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(
        "secret_key_value",
        _KEY_VALUE,
        _redact_value,
        ("secret", "token", "passw", "apikey", "api_key", "api-key", "api.key"),
    ),
    Rule(
        "aws_session_token",
        re.compile(r"(?<![A-Za-z0-9+/])(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|AQoDYXdz)[A-Za-z0-9+/=%]{16,}"),
        REDACTED,
        ("iqojb3jpz2lu", "fwogzxivyxdz", "aqodyxdz"),
    ),
    Rule("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED, ("akia", "asia")),
    Rule(
        "bearer_token",
        re.compile(r"(\b(?i:bearer)\s+)[A-Za-z0-9\-._~+/]+=*"),
        r"\g<1>" + REDACTED,
        ("bearer",),
    ),
    Rule(
        "basic_auth",
        re.compile(r"(\b(?i:authorization)[\"']?\s*[=:]\s*[\"']?(?i:basic)\s+)[A-Za-z0-9+/]+=*"),
        r"\g<1>" + REDACTED,
        ("basic",),
    ),
)


class Redactor:
    """Applies exact values, then rules; `count` grows by one per replaced value (the caller
    exports it). Returns the same object when nothing changed, so callers can tell cheaply (`is`)."""

    def __init__(
        self, rules: Iterable[Rule], literals: Iterable[str | None] = (), registry: SecretRegistry = SECRETS
    ) -> None:
        self.rules = tuple(rules)
        self.count = 0
        self._own = frozenset(v for v in literals if v and len(v) >= MIN_SECRET_LENGTH)
        self._registry = registry
        self._registry_version = -1
        self._literals: tuple[str, ...] = ()
        #: A rule without hints must see every string: no fast path then.
        self._always = any(not r.hints for r in self.rules)
        self._hints = tuple(dict.fromkeys(h for r in self.rules for h in r.hints))
        self._key_verdicts: dict[str, bool] = {}
        self._sync()

    @classmethod
    def from_settings(
        cls, redact_defaults: bool, patterns: Iterable[str], literals: Iterable[str | None] = ()
    ) -> Redactor:
        """User patterns replace the whole match. Invalid ones were rejected by config parsing;
        one that still fails to compile here is skipped rather than crashing the pipeline.
        `literals` are redacted even with the defaults off: they are known secrets."""
        rules = list(DEFAULT_RULES) if redact_defaults else []
        for i, text in enumerate(patterns):
            try:
                rules.append(Rule(f"user_{i}", re.compile(text), REDACTED))
            except re.error:
                continue
        return cls(rules, literals)

    @property
    def active(self) -> bool:
        return bool(self.rules or self._literals)

    def _sync(self) -> None:
        """Pick up secrets registered since the last call (longest first: a value containing
        another is replaced whole)."""
        if self._registry.version != self._registry_version:
            self._registry_version = self._registry.version
            values = self._own.union(self._registry.values())
            self._literals = tuple(sorted(values, key=len, reverse=True))

    def _suspect(self, text: str) -> bool:
        """Whether `text` may hold anything to redact (false positives only cost time)."""
        if self._always:
            return True
        for literal in self._literals:
            if literal in text:
                return True
        low = text.lower()
        for hint in self._hints:  # noqa: SIM110 - a plain loop: any() over a generator is slower here
            if hint in low:
                return True
        return False

    def text(self, text: str) -> str:
        """The redacted text; the same object when nothing matched."""
        self._sync()
        if not self._suspect(text):
            return text
        return self._redact_text(text)

    def _redact_text(self, text: str) -> str:
        for literal in self._literals:
            if literal in text:
                self.count += text.count(literal)
                text = text.replace(literal, REDACTED)
        low = text.lower()
        for rule in self.rules:
            if rule.hints:
                for hint in rule.hints:
                    if hint in low:
                        break
                else:
                    continue
            new, n = rule.pattern.subn(rule.replacement, text)
            if n:
                self.count += n
                text = new
        return text

    def _secret_key(self, key: str) -> bool:
        verdict = self._key_verdicts.get(key)
        if verdict is None:
            verdict = is_secret_key(key)
            if len(self._key_verdicts) < _KEY_CACHE_LIMIT:
                self._key_verdicts[key] = verdict
        return verdict

    def value(self, value: Any) -> Any:
        """Redact a JSON-like value: strings, object keys and values, lists."""
        self._sync()
        if isinstance(value, str):
            return self._redact_text(value) if self._suspect(value) else value
        if not isinstance(value, dict | list):
            return value
        strings: list[str] = []
        if not self._always and self._gather(value, 0, strings) and not self._suspect("\n".join(strings)):
            return value
        return self._walk(value, 0)

    def _gather(self, value: dict[Any, Any] | list[Any], depth: int, strings: list[str]) -> bool:
        """Collect every string of `value` (keys included); False as soon as a secret key or a
        container past the depth limit shows that a walk is needed anyway."""
        if depth >= MAX_DEPTH:
            return False
        items: Iterable[Any]
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, str):
                    if self._secret_key(key) and _redactable(value[key]):
                        return False
                    strings.append(key)
            items = value.values()
        else:
            items = value
        for item in items:
            if isinstance(item, str):
                strings.append(item)
            elif isinstance(item, dict | list) and not self._gather(item, depth + 1, strings):
                return False
        return True

    def _walk(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if not isinstance(value, dict | list):
            return value
        if depth >= MAX_DEPTH:  # too deep to inspect: never pass it through
            self.count += 1
            return REDACTED
        if isinstance(value, list):
            items = [self._walk(item, depth + 1) for item in value]
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        changed = False
        pairs: list[tuple[Any, Any]] = []
        for key, item in value.items():
            new_key, new_item = key, item
            if isinstance(key, str):
                new_key = self.text(key)
                if self._secret_key(key) and _redactable(item):
                    new_item = REDACTED
                    self.count += 1
                else:
                    new_item = self._walk(item, depth + 1)
            else:
                new_item = self._walk(item, depth + 1)
            changed = changed or new_key is not key or new_item is not item
            pairs.append((new_key, new_item))
        return dict(pairs) if changed else value


def _redactable(value: Any) -> bool:
    """A value under a secret key that is worth replacing: not empty, not a flag, not done."""
    if value is None or isinstance(value, bool):
        return False
    return not (isinstance(value, str) and value in ("", REDACTED))

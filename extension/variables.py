"""Every environment variable the extension reads, declared once: name, default, parser, meaning,
README section, and whether its value may hold a secret.

Two readers use these declarations and nothing else: the start-up fast path in
`extension.__main__` (the few variables that decide what to bind and register before
`/register`) and `extension.config.from_env` (everything, after `/register`). Both call the same
`get`, so they agree by construction. The README's configuration tables are generated from here
(`python -m extension.config_docs`); a test checks them in both directions.

Precedence is declared too: a variable's `fallbacks` are read, in order, when it is not set
(our `SIDECAR_*` variable first, then the standard `OTEL_*` or AWS one, then the default), and
`aliases` are other spellings of the same variable (read with a warning).

An unparsable value raises `BadValue`, whose text is safe to log and to send to
`/extension/init/error`: it never contains the value of a variable marked `secret` (headers,
tokens, credentials, endpoints; a URL is shown as scheme and host only) and otherwise names the
position of the bad entry rather than quoting it.

Standard library only, and nothing costly at import (no dataclasses, enum, re, json or typing):
this module is imported before `/register`, where every millisecond delays the function's init.
Parsers that need more (`urllib.parse`, `json`, `re`) import it when first called, which happens
only after `/register`, and only when such a variable is set.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy honours the name)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Protocol, TypedDict, TypeVar, Unpack

    Env = Mapping[str, str]
    PairList = tuple[tuple[str, str], ...]

    class Common(TypedDict, total=False):
        """The keyword arguments every kind accepts (see `Variable.__init__`)."""

        secret: bool
        aliases: tuple[str, ...]
        row: str
        default_doc: str
        read_by: str

    T = TypeVar("T")
    T_co = TypeVar("T_co", covariant=True)

    class _Parses(Protocol[T_co]):
        def lookup(self, env: Env) -> tuple[str, str] | None: ...
        def parse(self, text: str) -> T_co: ...
        def bad(self, name: str, text: str, detail: str) -> BadValue: ...


# README sections, in the order the tables appear.
DESTINATIONS = "Destinations and OpenTelemetry"
PROCESSING = "Flushing, buffers, processing"
INTAKE = "Telemetry intake and the extension itself"
CACHE = "Secrets and configuration cache (AWS names and defaults)"
PLATFORM = "Set by Lambda (read, not to be set)"
SECTIONS = (DESTINATIONS, PROCESSING, INTAKE, CACHE, PLATFORM)

HIDDEN = "(value not shown: it may hold a secret)"
_MAX_SHOWN = 200  # a long value is cut in messages


class BadValue(ValueError):
    """A variable whose value does not parse. The text names the variable (as spelled in the
    environment), says what was expected, and shows the value only when it cannot hold a secret."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class Variable:
    """One environment variable. Subclasses fix the value type: `parse` turns the (stripped,
    non-blank) text into a value or raises ValueError whose text may say *where* the value is
    wrong but never quotes it; `get` reads the variable from an environment mapping."""

    #: What a valid value looks like, completing "NAME=... is not ___".
    expected = "a value"

    def __init__(
        self,
        name: str,
        doc: str,
        section: str,
        *,
        secret: bool = False,
        aliases: tuple[str, ...] = (),
        row: str = "",
        default_doc: str = "",
        read_by: str = "",
    ) -> None:
        self.name = name
        self.doc = doc
        self.section = section
        #: The value may hold a secret: never echo it (headers, tokens, credentials, endpoints).
        self.secret = secret
        #: Other spellings read after `name` (e.g. the misspelled PARAMETERS_AND_SECRETS_ prefix).
        self.aliases = aliases
        #: README: variables with the same non-empty `row` share one table row.
        self.row = row
        #: README: the default column, when the default is not a literal value (e.g. "the function name").
        self.default_doc = default_doc
        #: Read outside Python (e.g. by the layer's launcher script); declared here to be documented.
        self.read_by = read_by
        self.fallbacks: tuple[Variable, ...] = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def lookup(self, env: Env) -> tuple[str, str] | None:
        """(name as set, stripped value) of the first of `name` and `aliases` set and not blank."""
        for name in (self.name, *self.aliases):
            value = env.get(name)
            if value is not None and value.strip() != "":
                return name, value.strip()
        return None

    def is_set(self, env: Env) -> bool:
        return self.lookup(env) is not None

    def shown(self, text: str) -> str:
        """What an error message may say about the value `text`."""
        if self.secret:
            return HIDDEN
        return repr(text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "...")

    def bad(self, name: str, text: str, detail: str) -> BadValue:
        shown = self.shown(text)
        head = f"{name} {shown}" if shown == HIDDEN else f"{name}={shown}"
        return BadValue(name, f"{head} is not {self.expected}" + (f" ({detail})" if detail else ""))

    def parse(self, text: str) -> object:
        """The value of `text` (stripped, not blank); ValueError saying where it is wrong."""
        raise NotImplementedError

    def get(self, env: Env) -> object:
        """The value in `env` (after fallbacks, else the default); BadValue when it does not parse."""
        raise NotImplementedError

    def render(self) -> str:
        """The default as a value one could set (README), or "" when there is none."""
        raise NotImplementedError


def _resolve(env: Env, chain: Sequence[_Parses[T]], default: T) -> T:
    """The value of the first variable of `chain` that is set, parsed by that variable."""
    for variable in chain:
        found = variable.lookup(env)
        if found is not None:
            name, text = found
            try:
                return variable.parse(text)
            except ValueError as exc:
                raise variable.bad(name, text, str(exc)) from None
    return default


# ---- kinds -------------------------------------------------------------------------------------

_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off"))


class Flag(Variable):
    fallbacks: tuple[Flag, ...]
    expected = "a boolean (true/false)"

    def __init__(
        self,
        name: str,
        default: bool,
        doc: str,
        section: str,
        *,
        fallbacks: tuple[Flag, ...] = (),
        **common: Unpack[Common],
    ) -> None:
        super().__init__(name, doc, section, **common)
        self.default = default
        self.fallbacks = fallbacks

    def parse(self, text: str) -> bool:
        value = text.lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ValueError("")

    def get(self, env: Env) -> bool:
        return _resolve(env, (self, *self.fallbacks), self.default)

    def render(self) -> str:
        return "true" if self.default else "false"


class ExporterSwitch(Flag):
    """`OTEL_{TRACES,METRICS,LOGS}_EXPORTER`: `none` turns the signal off; any other exporter
    name leaves it on (this extension exports through its own destinations)."""

    expected = "an exporter name (none turns the signal off)"

    def parse(self, text: str) -> bool:
        return text.lower() != "none"

    def render(self) -> str:
        return ""


class Integer(Variable):
    fallbacks: tuple[Integer, ...]

    def __init__(
        self,
        name: str,
        default: int,
        lo: int,
        hi: int,
        doc: str,
        section: str,
        *,
        fallbacks: tuple[Integer, ...] = (),
        **common: Unpack[Common],
    ) -> None:
        super().__init__(name, doc, section, **common)
        self.default, self.lo, self.hi = default, lo, hi
        self.fallbacks = fallbacks
        self.expected = f"an integer in [{lo}, {hi}]"

    def parse(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError("") from None  # int()'s own message quotes the text
        if not self.lo <= value <= self.hi:
            raise ValueError("out of range")
        return value

    def get(self, env: Env) -> int:
        return _resolve(env, (self, *self.fallbacks), self.default)

    def render(self) -> str:
        return str(self.default)


class Number(Variable):
    def __init__(
        self,
        name: str,
        default: float,
        lo: float,
        hi: float,
        doc: str,
        section: str,
        **common: Unpack[Common],
    ) -> None:
        super().__init__(name, doc, section, **common)
        self.default, self.lo, self.hi = default, lo, hi
        self.expected = f"a number in [{_num(lo)}, {_num(hi)}]"

    def parse(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("") from None  # float()'s own message quotes the text
        if not self.lo <= value <= self.hi:  # also rejects nan
            raise ValueError("out of range")
        return value

    def get(self, env: Env) -> float:
        return _resolve(env, (self,), self.default)

    def render(self) -> str:
        return _num(self.default)


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


class Choice(Variable):
    """One of a few words, case-insensitive; the value is the lower-case word."""

    fallbacks: tuple[Choice, ...]

    def __init__(
        self,
        name: str,
        default: str,
        choices: tuple[str, ...],
        doc: str,
        section: str,
        *,
        fallbacks: tuple[Choice, ...] = (),
        **common: Unpack[Common],
    ) -> None:
        super().__init__(name, doc, section, **common)
        self.default, self.choices = default, choices
        self.fallbacks = fallbacks
        self.expected = "one of " + ", ".join(choices)

    def parse(self, text: str) -> str:
        value = text.lower()
        if value not in self.choices:
            raise ValueError("")
        return value

    def get(self, env: Env) -> str:
        return _resolve(env, (self, *self.fallbacks), self.default)

    def render(self) -> str:
        return self.default


class Text(Variable):
    """Any text (a name, a path, a region, a token)."""

    fallbacks: tuple[Text, ...]

    def __init__(
        self,
        name: str,
        default: str,
        doc: str,
        section: str,
        *,
        fallbacks: tuple[Text, ...] = (),
        **common: Unpack[Common],
    ) -> None:
        super().__init__(name, doc, section, **common)
        self.default = default
        self.fallbacks = fallbacks

    def parse(self, text: str) -> str:
        return text

    def get(self, env: Env) -> str:
        return _resolve(env, (self, *self.fallbacks), self.default)

    def render(self) -> str:
        return self.default


class Url(Text):
    """An http(s) URL with a host. When `secret`, messages show its scheme and host only:
    user:password, path and query of an endpoint can all carry credentials."""

    expected = "an http(s) URL"

    def parse(self, text: str) -> str:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
        except ValueError:
            raise ValueError("") from None
        if (
            parts.scheme.lower() not in ("http", "https")
            or not parts.hostname
            or any(c.isspace() for c in text)
        ):
            raise ValueError("")
        return text

    def shown(self, text: str) -> str:
        if not self.secret:
            return super().shown(text)
        return show_url(text)


def show_url(url: str) -> str:
    """What may be logged of an endpoint URL: scheme, host and port, never user:password, path
    or query (a token can sit in any of them). For logging endpoints anywhere in the extension."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return HIDDEN
    if parts.scheme.lower() not in ("http", "https") or not host:
        return HIDDEN
    netloc = f"[{host}]" if ":" in host else host
    rest = "/..." if (parts.path.strip("/") or parts.query or parts.fragment) else ""
    return repr(f"{parts.scheme}://{netloc}{'' if port is None else f':{port}'}{rest}")


class Subset(Variable):
    """A comma list of words from `allowed` (duplicates dropped, order kept)."""

    def __init__(
        self,
        name: str,
        default: tuple[str, ...],
        allowed: tuple[str, ...],
        doc: str,
        section: str,
        **common: Unpack[Common],
    ) -> None:
        super().__init__(name, doc, section, **common)
        self.default, self.allowed = default, allowed
        self.expected = "a comma list of " + ", ".join(allowed)

    def parse(self, text: str) -> tuple[str, ...]:
        words = [part.strip().lower() for part in text.split(",")]
        for position, word in enumerate(words, 1):
            if word and word not in self.allowed:
                raise ValueError(f"entry {position} is unknown")
        items = tuple(dict.fromkeys(word for word in words if word))
        if not items:
            raise ValueError("empty")
        return items

    def get(self, env: Env) -> tuple[str, ...]:
        return _resolve(env, (self,), self.default)

    def render(self) -> str:
        return ",".join(self.default)


class Pairs(Variable):
    """`k=v,k2=v2`, keys and values URL-decoded: the W3C-baggage-like format of
    OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES
    (https://opentelemetry.io/docs/specs/otel/protocol/exporter/#specifying-headers-via-environment-variables).
    A value may itself contain `=` (base64)."""

    expected = "a k=v,k2=v2 list"

    fallbacks: tuple[Pairs, ...]

    def __init__(
        self,
        name: str,
        doc: str,
        section: str,
        *,
        fallbacks: tuple[Pairs, ...] = (),
        **common: Unpack[Common],
    ) -> None:
        super().__init__(name, doc, section, **common)
        self.default: PairList = ()
        self.fallbacks = fallbacks

    def parse(self, text: str) -> PairList:
        from urllib.parse import unquote

        parts = text.split(",")
        pairs: list[tuple[str, str]] = []
        for position, part in enumerate(parts, 1):
            if not part.strip():
                continue
            where = f"entry {position} of {len(parts)}"
            if "=" not in part:
                raise ValueError(f"{where} has no '='")
            key, _, value = part.partition("=")
            key = unquote(key.strip())
            if not key:
                raise ValueError(f"{where} has an empty key")
            pairs.append((key, unquote(value.strip())))
        return tuple(pairs)

    def get(self, env: Env) -> PairList:
        return _resolve(env, (self, *self.fallbacks), self.default)

    def render(self) -> str:
        return ""


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class Duration(Variable):
    """`45`, `45s`, `5m`, `1h`, `3000ms` (the forms the AWS AppConfig agent accepts); the value is
    in seconds, a bare number is in `unit`."""

    expected = "a duration (a number with an optional ms, s, m or h unit)"

    def __init__(
        self, name: str, default_s: float, unit: str, doc: str, section: str, **common: Unpack[Common]
    ) -> None:
        super().__init__(name, doc, section, **common)
        self.default, self.unit = default_s, unit

    def parse(self, text: str) -> float:
        value = text.lower().replace(" ", "")
        unit = next((u for u in ("ms", "s", "m", "h") if value.endswith(u)), "")
        number = value[: len(value) - len(unit)]
        whole, _, fraction = number.partition(".")
        if not (number.isascii() and whole.isdigit() and (fraction.isdigit() or "." not in number)):
            raise ValueError("")
        return float(number) * _UNITS[unit or self.unit]

    def get(self, env: Env) -> float:
        return _resolve(env, (self,), self.default)

    def render(self) -> str:
        return _num(self.default / _UNITS[self.unit])


class PrefetchList(Variable):
    """`sm:NAME,ssm:NAME?withDecryption=true`: (service, name, with_decryption) per entry."""

    expected = "a list of sm:NAME or ssm:NAME entries"

    def __init__(self, name: str, doc: str, section: str, **common: Unpack[Common]) -> None:
        super().__init__(name, doc, section, **common)
        self.default: tuple[tuple[str, str, bool], ...] = ()

    def parse(self, text: str) -> tuple[tuple[str, str, bool], ...]:
        services = {"sm": "secretsmanager", "secretsmanager": "secretsmanager", "ssm": "ssm"}
        items: list[tuple[str, str, bool]] = []
        for position, part in enumerate(text.split(","), 1):
            part = part.strip()
            if not part:
                continue
            prefix, sep, rest = part.partition(":")
            service = services.get(prefix.lower(), "")
            if not sep or not service or not rest:
                raise ValueError(f"entry {position} is not sm:NAME or ssm:NAME")
            name, _, query = rest.partition("?")
            items.append((service, name, "withdecryption=true" in query.lower().replace(" ", "")))
        return tuple(items)

    def get(self, env: Env) -> tuple[tuple[str, str, bool], ...]:
        return _resolve(env, (self,), self.default)

    def render(self) -> str:
        return ""


class AppConfigTargets(Variable):
    """`/applications/A/environments/E/configurations/C` or `A:E:C`, comma separated:
    (application, environment, profile) per entry."""

    expected = "a list of A:E:C or /applications/A/environments/E/configurations/C entries"

    def __init__(self, name: str, doc: str, section: str, **common: Unpack[Common]) -> None:
        super().__init__(name, doc, section, **common)
        self.default: tuple[tuple[str, str, str], ...] = ()

    def parse(self, text: str) -> tuple[tuple[str, str, str], ...]:
        from urllib.parse import unquote

        targets: list[tuple[str, str, str]] = []
        for position, part in enumerate(text.split(","), 1):
            part = part.strip()
            if not part:
                continue
            if part.startswith("/"):
                segments = part.split("/")
                if (
                    len(segments) == 7
                    and segments[1::2] == ["applications", "environments", "configurations"]
                    and all(segments[2::2])
                ):
                    targets.append((unquote(segments[2]), unquote(segments[4]), unquote(segments[6])))
                    continue
            else:
                fields = part.split(":")
                if len(fields) == 3 and all(fields):
                    targets.append((fields[0], fields[1], fields[2]))
                    continue
            raise ValueError(f"entry {position} is neither form")
        return tuple(targets)

    def get(self, env: Env) -> tuple[tuple[str, str, str], ...]:
        return _resolve(env, (self,), self.default)

    def render(self) -> str:
        return ""


class Patterns(Variable):
    """One regular expression, or a JSON array of them."""

    expected = "a regex or a JSON array of regexes"

    def __init__(self, name: str, doc: str, section: str, **common: Unpack[Common]) -> None:
        super().__init__(name, doc, section, **common)
        self.default: tuple[str, ...] = ()

    def parse(self, text: str) -> tuple[str, ...]:
        import json
        import re

        if text.startswith("["):
            try:
                patterns = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"JSON: {exc.msg} at character {exc.pos}") from None
            if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                raise ValueError("the JSON array must hold strings")
        else:
            patterns = [text]
        for position, pattern in enumerate(patterns, 1):
            try:
                re.compile(pattern)
            except re.error as exc:
                where = "" if exc.pos is None else f" at character {exc.pos}"
                raise ValueError(f"pattern {position}: {exc.msg}{where}") from None
        return tuple(patterns)

    def get(self, env: Env) -> tuple[str, ...]:
        return _resolve(env, (self,), self.default)

    def render(self) -> str:
        return ""


# ---- declarations ------------------------------------------------------------------------------
# Set by Lambda

AWS_LAMBDA_RUNTIME_API = Text(
    "AWS_LAMBDA_RUNTIME_API", "", "host:port of the Runtime and Extensions APIs", PLATFORM
)
AWS_LAMBDA_FUNCTION_NAME = Text(
    "AWS_LAMBDA_FUNCTION_NAME", "unknown-function", "function name (and default `service.name`)", PLATFORM
)
AWS_LAMBDA_FUNCTION_VERSION = Text("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST", "function version", PLATFORM)
AWS_LAMBDA_FUNCTION_MEMORY_SIZE = Integer(
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 128, 1, 1_000_000, "memory, MB", PLATFORM
)
AWS_LAMBDA_INITIALIZATION_TYPE = Text(
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "on-demand",
    "`on-demand`, `provisioned-concurrency`, `snap-start` or `lambda-managed-instances`",
    PLATFORM,
)
AWS_DEFAULT_REGION = Text("AWS_DEFAULT_REGION", "", "region, when `AWS_REGION` is not set", PLATFORM)
AWS_REGION = Text(
    "AWS_REGION", "us-east-1", "region of the AWS calls", PLATFORM, fallbacks=(AWS_DEFAULT_REGION,)
)
AWS_ACCESS_KEY_ID = Text(
    "AWS_ACCESS_KEY_ID", "", "credentials of the AWS calls", PLATFORM, secret=True, row="KEYS"
)
AWS_SECRET_ACCESS_KEY = Text(
    "AWS_SECRET_ACCESS_KEY", "", "credentials of the AWS calls", PLATFORM, secret=True, row="KEYS"
)
AWS_SESSION_TOKEN = Text(
    "AWS_SESSION_TOKEN", "", "session token of the AWS calls (and the 2773 token)", PLATFORM, secret=True
)
AWS_CONTAINER_AUTHORIZATION_TOKEN = Text(
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "",
    "token for the credentials endpoint (and the 2773 token without a session token)",
    PLATFORM,
    secret=True,
)
AWS_CONTAINER_CREDENTIALS_FULL_URI = Text(
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "",
    "credentials endpoint (SnapStart) used when no key variables are set",
    PLATFORM,
    secret=True,
)

# Destinations and OpenTelemetry

SIDECAR_EXPORTERS = Subset(
    "SIDECAR_EXPORTERS",
    (),
    ("otlp", "http_json", "stdout", "file"),
    "comma list of `otlp`, `http_json`, `stdout`, `file` (several at once)",
    DESTINATIONS,
    default_doc="`otlp` when an OTLP endpoint is set, else `stdout`",
)
OTEL_EXPORTER_OTLP_ENDPOINT = Url(
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "",
    "OTLP base URL for every signal; for http/protobuf `v1/traces`, `v1/metrics`, `v1/logs` are "
    "appended to its path",
    DESTINATIONS,
    secret=True,
)
OTEL_EXPORTER_OTLP_PROTOCOL = Choice(
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "http/protobuf",
    ("http/protobuf", "grpc"),
    "`http/protobuf` or `grpc` (grpcio ships in every layer, loaded only when used)",
    DESTINATIONS,
)
OTEL_EXPORTER_OTLP_HEADERS = Pairs(
    "OTEL_EXPORTER_OTLP_HEADERS",
    "`k=v,k2=v2`; a value may be `${secretsmanager:NAME}`, `${secretsmanager:NAME#jsonKey}` or `${ssm:NAME}`"
    " (re-resolved when the backend answers 401/403, at most once per `SECRETS_MANAGER_TTL`; works with"
    " the 2773/2772 listeners turned off)",
    DESTINATIONS,
    secret=True,
)
OTEL_EXPORTER_OTLP_TIMEOUT = Integer(
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    10000,
    1,
    600000,
    "ms per attempt (also bounded by the export budget and deadlines)",
    DESTINATIONS,
)
OTEL_EXPORTER_OTLP_COMPRESSION = Choice(
    "OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", ("gzip", "none"), "`gzip` or `none`", DESTINATIONS
)
OTEL_EXPORTER_OTLP_CERTIFICATE = Text(
    "OTEL_EXPORTER_OTLP_CERTIFICATE", "", "CA bundle file for TLS", DESTINATIONS
)

OTLP_SIGNALS = ("traces", "metrics", "logs")


def _per_signal_endpoint(signal: str) -> Url:
    return Url(
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT",
        "",
        "per-signal URL, used as given (only `/` added when it has no path); a signal with neither "
        "this nor `OTEL_EXPORTER_OTLP_ENDPOINT` is not sent over OTLP",
        DESTINATIONS,
        secret=True,
        row="OTLP_ENDPOINT",
    )


OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = _per_signal_endpoint("traces")
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = _per_signal_endpoint("metrics")
OTEL_EXPORTER_OTLP_LOGS_ENDPOINT = _per_signal_endpoint("logs")


def _per_signal_protocol(signal: str) -> Choice:
    base = OTEL_EXPORTER_OTLP_PROTOCOL
    name = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
    doc = "per-signal protocol"
    return Choice(name, base.default, base.choices, doc, DESTINATIONS, fallbacks=(base,), row="OTLP_PROTOCOL")


OTEL_EXPORTER_OTLP_TRACES_PROTOCOL = _per_signal_protocol("traces")
OTEL_EXPORTER_OTLP_METRICS_PROTOCOL = _per_signal_protocol("metrics")
OTEL_EXPORTER_OTLP_LOGS_PROTOCOL = _per_signal_protocol("logs")


def _per_signal_headers(signal: str) -> Pairs:
    name = f"OTEL_EXPORTER_OTLP_{signal.upper()}_HEADERS"
    base = OTEL_EXPORTER_OTLP_HEADERS
    return Pairs(name, "per-signal headers", DESTINATIONS, fallbacks=(base,), secret=True, row="OTLP_HEADERS")


OTEL_EXPORTER_OTLP_TRACES_HEADERS = _per_signal_headers("traces")
OTEL_EXPORTER_OTLP_METRICS_HEADERS = _per_signal_headers("metrics")
OTEL_EXPORTER_OTLP_LOGS_HEADERS = _per_signal_headers("logs")


def _per_signal_timeout(signal: str) -> Integer:
    base = OTEL_EXPORTER_OTLP_TIMEOUT
    name = f"OTEL_EXPORTER_OTLP_{signal.upper()}_TIMEOUT"
    return Integer(
        name,
        base.default,
        base.lo,
        base.hi,
        "per-signal timeout",
        DESTINATIONS,
        fallbacks=(base,),
        row="OTLP_TIMEOUT",
    )


OTEL_EXPORTER_OTLP_TRACES_TIMEOUT = _per_signal_timeout("traces")
OTEL_EXPORTER_OTLP_METRICS_TIMEOUT = _per_signal_timeout("metrics")
OTEL_EXPORTER_OTLP_LOGS_TIMEOUT = _per_signal_timeout("logs")


def _per_signal_compression(signal: str) -> Choice:
    base = OTEL_EXPORTER_OTLP_COMPRESSION
    name = f"OTEL_EXPORTER_OTLP_{signal.upper()}_COMPRESSION"
    doc = "per-signal compression"
    return Choice(
        name, base.default, base.choices, doc, DESTINATIONS, fallbacks=(base,), row="OTLP_COMPRESSION"
    )


OTEL_EXPORTER_OTLP_TRACES_COMPRESSION = _per_signal_compression("traces")
OTEL_EXPORTER_OTLP_METRICS_COMPRESSION = _per_signal_compression("metrics")
OTEL_EXPORTER_OTLP_LOGS_COMPRESSION = _per_signal_compression("logs")


def _per_signal_certificate(signal: str) -> Text:
    base = OTEL_EXPORTER_OTLP_CERTIFICATE
    name = f"OTEL_EXPORTER_OTLP_{signal.upper()}_CERTIFICATE"
    return Text(
        name, base.default, "per-signal CA bundle", DESTINATIONS, fallbacks=(base,), row="OTLP_CERTIFICATE"
    )


OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE = _per_signal_certificate("traces")
OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE = _per_signal_certificate("metrics")
OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE = _per_signal_certificate("logs")


class OtlpSignalVariables:
    """The six per-signal variables of one OTLP signal (each falls back to the base variable,
    except the endpoint, whose fallback rule is the specification's URL construction)."""

    def __init__(
        self,
        endpoint: Url,
        protocol: Choice,
        headers: Pairs,
        timeout: Integer,
        compression: Choice,
        certificate: Text,
    ) -> None:
        self.endpoint, self.protocol, self.headers = endpoint, protocol, headers
        self.timeout, self.compression, self.certificate = timeout, compression, certificate


OTLP_PER_SIGNAL = {
    "traces": OtlpSignalVariables(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
        OTEL_EXPORTER_OTLP_TRACES_HEADERS,
        OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
        OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
        OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
    ),
    "metrics": OtlpSignalVariables(
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
        OTEL_EXPORTER_OTLP_METRICS_HEADERS,
        OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
        OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
        OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
    ),
    "logs": OtlpSignalVariables(
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
        OTEL_EXPORTER_OTLP_LOGS_PROTOCOL,
        OTEL_EXPORTER_OTLP_LOGS_HEADERS,
        OTEL_EXPORTER_OTLP_LOGS_TIMEOUT,
        OTEL_EXPORTER_OTLP_LOGS_COMPRESSION,
        OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE,
    ),
}

OTEL_SERVICE_NAME = Text(
    "OTEL_SERVICE_NAME", "", "`service.name`", DESTINATIONS, default_doc="the function name"
)
OTEL_RESOURCE_ATTRIBUTES = Pairs(
    "OTEL_RESOURCE_ATTRIBUTES", "extra resource attributes `k=v,k2=v2`", DESTINATIONS
)
OTEL_TRACES_EXPORTER = ExporterSwitch(
    "OTEL_TRACES_EXPORTER", True, "`none` turns that signal off", DESTINATIONS, row="OTEL_SIGNAL_EXPORTER"
)
OTEL_METRICS_EXPORTER = ExporterSwitch(
    "OTEL_METRICS_EXPORTER", True, "`none` turns that signal off", DESTINATIONS, row="OTEL_SIGNAL_EXPORTER"
)
OTEL_LOGS_EXPORTER = ExporterSwitch(
    "OTEL_LOGS_EXPORTER", True, "`none` turns that signal off", DESTINATIONS, row="OTEL_SIGNAL_EXPORTER"
)
SIDECAR_HTTP_JSON_URL = Url(
    "SIDECAR_HTTP_JSON_URL", "", "URL for the `http_json` destination", DESTINATIONS, secret=True
)
SIDECAR_HTTP_JSON_HEADERS = Pairs(
    "SIDECAR_HTTP_JSON_HEADERS", "`k=v,...`, secret references allowed", DESTINATIONS, secret=True
)
SIDECAR_HTTP_JSON_FORMAT = Choice(
    "SIDECAR_HTTP_JSON_FORMAT",
    "raw",
    ("raw", "otel"),
    "`raw` (Telemetry API events as received) or `otel` (OTel-shaped records)",
    DESTINATIONS,
)
SIDECAR_HTTP_JSON_COMPRESSION = Choice(
    "SIDECAR_HTTP_JSON_COMPRESSION", "gzip", ("gzip", "none"), "`gzip` or `none`", DESTINATIONS
)
SIDECAR_HTTP_JSON_MAX_BATCH = Integer(
    "SIDECAR_HTTP_JSON_MAX_BATCH", 1000, 1, 100000, "items per POST", DESTINATIONS
)
SIDECAR_HTTP_JSON_TIMEOUT_MS = Integer(
    "SIDECAR_HTTP_JSON_TIMEOUT_MS", 5000, 1, 600000, "ms per attempt", DESTINATIONS
)
SIDECAR_STDOUT_SIGNALS = Subset(
    "SIDECAR_STDOUT_SIGNALS",
    ("metrics",),
    ("metrics", "spans", "logs"),
    "what `stdout` prints: `metrics` (CloudWatch EMF), `spans`, `logs` (JSON lines)",
    DESTINATIONS,
)
SIDECAR_EMF_NAMESPACE = Text(
    "SIDECAR_EMF_NAMESPACE", "LambdaSidecar", "CloudWatch namespace of the EMF metrics", DESTINATIONS
)
SIDECAR_FILE_PATH = Text(
    "SIDECAR_FILE_PATH",
    "/tmp/lambda-sidecar.jsonl",
    "JSON-lines file of the `file` destination",
    DESTINATIONS,
)
SIDECAR_FILE_MAX_BYTES = Integer(
    "SIDECAR_FILE_MAX_BYTES",
    10 * 1024 * 1024,
    1024,
    2**40,
    "size bound; rotates once to `<path>.1`",
    DESTINATIONS,
)
SIDECAR_RETRY_INITIAL_MS = Integer(
    "SIDECAR_RETRY_INITIAL_MS",
    100,
    1,
    60000,
    "first backoff, ms: exponential backoff with full jitter (Retry-After honoured)",
    DESTINATIONS,
)
SIDECAR_RETRY_MAX_MS = Integer("SIDECAR_RETRY_MAX_MS", 5000, 1, 600000, "backoff cap, ms", DESTINATIONS)

# Flushing, buffers, processing

SIDECAR_FLUSH_POLICY = Choice(
    "SIDECAR_FLUSH_POLICY",
    "adaptive",
    ("adaptive", "end", "periodic", "shutdown"),
    "`end` (export before every `/next`: freshest, adds billed time), `periodic` (at the first "
    "invoke after the interval, while the function runs), `adaptive` (`end` while invokes are rare, "
    "`periodic` when frequent), `shutdown` (only at SHUTDOWN or when buffers fill)",
    PROCESSING,
)
SIDECAR_FLUSH_INTERVAL_SECONDS = Number(
    "SIDECAR_FLUSH_INTERVAL_SECONDS",
    20.0,
    0.0,
    3600.0,
    "interval of `periodic` (and `adaptive` when frequent); the export timer on Managed Instances",
    PROCESSING,
)
SIDECAR_ADAPTIVE_MIN_RATE = Number(
    "SIDECAR_ADAPTIVE_MIN_RATE",
    6.0,
    0.0,
    1e6,
    "invokes per minute from which `adaptive` stops waiting at the end of each invoke",
    PROCESSING,
)
SIDECAR_EXPORT_BUDGET_MS = Integer(
    "SIDECAR_EXPORT_BUDGET_MS",
    300,
    1,
    900000,
    "most time one flush may take before `/next`; a destination that timed out or failed is not waited"
    " for again until it answers (retried alongside later invokes and at SHUTDOWN)",
    PROCESSING,
)
SIDECAR_BUFFER_MAX_ITEMS = Integer(
    "SIDECAR_BUFFER_MAX_ITEMS",
    20000,
    1,
    10_000_000,
    "per-destination queue bound; oldest dropped first, counted",
    PROCESSING,
    row="BUFFER",
)
SIDECAR_BUFFER_MAX_BYTES = Integer(
    "SIDECAR_BUFFER_MAX_BYTES",
    8 * 1024 * 1024,
    1024,
    2**34,
    "per-destination queue bound; oldest dropped first, counted",
    PROCESSING,
    row="BUFFER",
)
OTEL_SIGNAL_EXPORTERS = {
    "spans": OTEL_TRACES_EXPORTER,
    "metrics": OTEL_METRICS_EXPORTER,
    "logs": OTEL_LOGS_EXPORTER,
}


def _signal_switch(signal: str) -> Flag:
    return Flag(
        f"SIDECAR_{signal.upper()}_ENABLED",
        True,
        "signal switch; when unset, the matching `OTEL_*_EXPORTER=none` turns the signal off",
        PROCESSING,
        fallbacks=(OTEL_SIGNAL_EXPORTERS[signal],),
        row="SIGNAL_SWITCH",
        default_doc="`true`",
    )


SIDECAR_SPANS_ENABLED = _signal_switch("spans")
SIDECAR_METRICS_ENABLED = _signal_switch("metrics")
SIDECAR_LOGS_ENABLED = _signal_switch("logs")
SIDECAR_LOG_MIN_LEVEL = Choice(
    "SIDECAR_LOG_MIN_LEVEL",
    "trace",
    ("trace", "debug", "info", "warn", "warning", "error", "fatal", "critical"),
    "drop function/extension records below this level",
    PROCESSING,
)
SIDECAR_PLATFORM_LOGS = Flag(
    "SIDECAR_PLATFORM_LOGS",
    False,
    "also emit CloudWatch-style `START`/`END`/`REPORT` log records",
    PROCESSING,
)
SIDECAR_REDACT_DEFAULTS = Flag(
    "SIDECAR_REDACT_DEFAULTS",
    True,
    "redact credentials in logs by key name and shape (see [Security](#security))",
    PROCESSING,
)
SIDECAR_REDACT_PATTERNS = Patterns(
    "SIDECAR_REDACT_PATTERNS",
    "extra regexes (one regex, or a JSON array) replaced by `[REDACTED]`",
    PROCESSING,
    secret=True,  # a pattern may spell out the very value it redacts
)
SIDECAR_SPAN_STYLE = Choice(
    "SIDECAR_SPAN_STYLE",
    "children",
    ("children", "events"),
    "runtimeDone phases as child spans (`children`) or span events (`events`)",
    PROCESSING,
)

# Telemetry intake and the extension itself

SIDECAR_TELEMETRY_ENABLED = Flag("SIDECAR_TELEMETRY_ENABLED", True, "subscribe to the Telemetry API", INTAKE)
SIDECAR_TELEMETRY_TYPES = Subset(
    "SIDECAR_TELEMETRY_TYPES",
    ("platform", "function", "extension"),
    ("platform", "function", "extension"),
    "streams to subscribe to",
    INTAKE,
)
SIDECAR_TELEMETRY_PORT = Integer(
    "SIDECAR_TELEMETRY_PORT", 0, 0, 65535, "listener port (`0`: any free port)", INTAKE
)
SIDECAR_TELEMETRY_MAX_ITEMS = Integer(
    "SIDECAR_TELEMETRY_MAX_ITEMS",
    1000,
    1000,
    10000,
    "Lambda-side buffering of the subscription",
    INTAKE,
    row="TELEMETRY_BUFFERING",
)
SIDECAR_TELEMETRY_MAX_BYTES = Integer(
    "SIDECAR_TELEMETRY_MAX_BYTES",
    262144,
    262144,
    1048576,
    "Lambda-side buffering of the subscription",
    INTAKE,
    row="TELEMETRY_BUFFERING",
)
SIDECAR_TELEMETRY_TIMEOUT_MS = Integer(
    "SIDECAR_TELEMETRY_TIMEOUT_MS",
    25,
    25,
    30000,
    "Lambda-side buffering of the subscription",
    INTAKE,
    row="TELEMETRY_BUFFERING",
)
SIDECAR_RECEIVER_ENABLED = Flag(
    "SIDECAR_RECEIVER_ENABLED",
    True,
    "OTLP/HTTP receiver on 127.0.0.1 for the function's own spans, metrics and logs",
    INTAKE,
)
SIDECAR_RECEIVER_HTTP_PORT = Integer(
    "SIDECAR_RECEIVER_HTTP_PORT",
    4318,
    1,
    65535,
    "port of the OTLP/HTTP receiver (`/v1/traces`, `/v1/metrics`, `/v1/logs`)",
    INTAKE,
)
SIDECAR_RECEIVER_GRPC_PORT = Integer(
    "SIDECAR_RECEIVER_GRPC_PORT",
    4317,
    0,
    65535,
    "port of the OTLP/gRPC receiver (`0`: none); grpcio loads at its first connection",
    INTAKE,
)
SIDECAR_RECEIVER_MAX_BYTES = Integer(
    "SIDECAR_RECEIVER_MAX_BYTES",
    4194304,
    65536,
    67108864,
    "largest OTLP request body accepted, before and after gzip (larger: 413)",
    INTAKE,
)
SIDECAR_EMF_TO_METRICS = Choice(
    "SIDECAR_EMF_TO_METRICS",
    "keep",
    ("off", "keep", "drop"),
    "CloudWatch EMF lines printed by the function become metrics; `keep`/`drop` the log record",
    INTAKE,
)
AWS_LAMBDA_EXEC_WRAPPER = Text(
    "AWS_LAMBDA_EXEC_WRAPPER",
    "",
    '`/opt/lambda-sidecar/instrument` for instrumented functions (README "Instrumented functions"); '
    "then the receiver loads OTLP decoding at start instead of at the function's first export",
    INTAKE,
)
SIDECAR_LOG_LEVEL = Choice(
    "SIDECAR_LOG_LEVEL",
    "info",
    ("debug", "info", "warning", "error"),
    "our own log output (milestones only)",
    INTAKE,
)
SIDECAR_DISABLED = Flag("SIDECAR_DISABLED", False, "kill switch: register and idle", INTAKE)
SIDECAR_READY_BEFORE_NEXT = Flag(
    "SIDECAR_READY_BEFORE_NEXT",
    False,
    "finish start-up (listeners serving, exporters built) before the first `/event/next`; "
    "`false`: send it right after subscribing and start up during the first invoke "
    "(docs/architecture.md, Deviations)",
    INTAKE,
)
SIDECAR_PYTHON = Text(
    "SIDECAR_PYTHON",
    "python3",
    "interpreter the launcher uses (for non-Python runtimes, bring a Python)",
    INTAKE,
    read_by="layer/extensions/lambda-sidecar",
)

# Secrets and configuration cache

PSE_PREFIX = "PARAMETERS_SECRETS_EXTENSION_"
PSE_PREFIX_MISSPELLED = "PARAMETERS_AND_SECRETS_EXTENSION_"  # a common misspelling (aws-cdk#26011)


def _pse(suffix: str) -> tuple[str, tuple[str, ...]]:
    """The AWS name and, as an alias, its common misspelling."""
    return PSE_PREFIX + suffix, (PSE_PREFIX_MISSPELLED + suffix,)


_name, _aliases = _pse("CACHE_ENABLED")
PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED = Flag(
    _name, True, "serve the cache endpoints", CACHE, aliases=_aliases
)
_name, _aliases = _pse("HTTP_PORT")
PARAMETERS_SECRETS_EXTENSION_HTTP_PORT = Integer(
    _name, 2773, 1, 65535, "secrets/parameters port (127.0.0.1 only)", CACHE, aliases=_aliases
)
_name, _aliases = _pse("CACHE_SIZE")
PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE = Integer(
    _name, 1000, 0, 1000, "item cap (LRU)", CACHE, aliases=_aliases
)
_name, _aliases = _pse("MAX_CONNECTIONS")
PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS = Integer(
    _name,
    3,
    1,
    1000,
    "connections of the HTTP client that calls Secrets Manager / Parameter Store, as AWS documents"
    " it (not a limit on local requests: see below)",
    CACHE,
    aliases=_aliases,
)
_name, _aliases = _pse("LOG_LEVEL")
PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL = Text(
    _name, "info", "accepted for compatibility (not used)", CACHE, aliases=_aliases
)
del _name, _aliases

SECRETS_MANAGER_TTL = Number(
    "SECRETS_MANAGER_TTL",
    300.0,
    0.0,
    3600.0,
    "seconds (0-3600; above AWS's 300 is allowed)",
    CACHE,
    row="TTL",
)
SSM_PARAMETER_STORE_TTL = Number(
    "SSM_PARAMETER_STORE_TTL",
    300.0,
    0.0,
    3600.0,
    "seconds (0-3600; above AWS's 300 is allowed)",
    CACHE,
    row="TTL",
)
#: AWS's `0` means "no timeout"; an unbounded call would hold the function's request, so 0 means this.
UPSTREAM_TIMEOUT_FOR_ZERO_MS = 3000
SECRETS_MANAGER_TIMEOUT_MILLIS = Integer(
    "SECRETS_MANAGER_TIMEOUT_MILLIS",
    0,
    0,
    600000,
    f"upstream timeout, ms (`0`: {UPSTREAM_TIMEOUT_FOR_ZERO_MS})",
    CACHE,
    row="UPSTREAM_TIMEOUT",
)
SSM_PARAMETER_STORE_TIMEOUT_MILLIS = Integer(
    "SSM_PARAMETER_STORE_TIMEOUT_MILLIS",
    0,
    0,
    600000,
    f"upstream timeout, ms (`0`: {UPSTREAM_TIMEOUT_FOR_ZERO_MS})",
    CACHE,
    row="UPSTREAM_TIMEOUT",
)
AWS_APPCONFIG_EXTENSION_HTTP_PORT = Integer(
    "AWS_APPCONFIG_EXTENSION_HTTP_PORT", 2772, 1, 65535, "AppConfig port (127.0.0.1 only)", CACHE
)
AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS = Duration(
    "AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS",
    45.0,
    "s",
    "poll interval (`ms`/`s`/`m`/`h` suffixes accepted)",
    CACHE,
)
AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS = Duration(
    "AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS",
    3.0,
    "ms",
    "poll timeout (`ms`/`s` suffixes accepted)",
    CACHE,
)
AWS_APPCONFIG_EXTENSION_PREFETCH_LIST = AppConfigTargets(
    "AWS_APPCONFIG_EXTENSION_PREFETCH_LIST",
    "`/applications/A/environments/E/configurations/C` or `A:E:C`, comma separated",
    CACHE,
)
AWS_APPCONFIG_EXTENSION_MAX_CONNECTIONS = Integer(
    "AWS_APPCONFIG_EXTENSION_MAX_CONNECTIONS",
    3,
    1,
    1000,
    "connections of the HTTP client that calls AppConfig",
    CACHE,
)
AWS_APPCONFIG_EXTENSION_SERVICE_REGION = Text(
    "AWS_APPCONFIG_EXTENSION_SERVICE_REGION",
    AWS_REGION.default,
    "AppConfig region",
    CACHE,
    fallbacks=(AWS_REGION, AWS_DEFAULT_REGION),
)
AWS_APPCONFIG_EXTENSION_ROLE_ARN = Text(
    "AWS_APPCONFIG_EXTENSION_ROLE_ARN",
    "",
    "IAM role assumed (STS AssumeRole) to read AppConfig of another account; only that account is read",
    CACHE,
)
AWS_APPCONFIG_EXTENSION_ROLE_EXTERNAL_ID = Text(
    "AWS_APPCONFIG_EXTENSION_ROLE_EXTERNAL_ID",
    "",
    "external ID passed with AssumeRole",
    CACHE,
    secret=True,
)
AWS_APPCONFIG_EXTENSION_ROLE_SESSION_NAME = Text(
    "AWS_APPCONFIG_EXTENSION_ROLE_SESSION_NAME",
    "",
    "session name of the assumed role",
    CACHE,
    default_doc="the function name",
)
SIDECAR_PREFETCH = PrefetchList(
    "SIDECAR_PREFETCH",
    "fetched at cold start in batches: `sm:NAME`, `ssm:NAME?withDecryption=true`, comma separated",
    CACHE,
)
SIDECAR_MAX_STALE_SECONDS = Number(
    "SIDECAR_MAX_STALE_SECONDS",
    900.0,
    0.0,
    86400.0,
    "serve the last value (`X-Cache: stale`) when AWS throttles, times out or fails with 5xx",
    CACHE,
)
SIDECAR_REFRESH_AHEAD_FRACTION = Number(
    "SIDECAR_REFRESH_AHEAD_FRACTION",
    0.8,
    0.0,
    1.0,
    "at INVOKE, refresh entries past this share of their TTL",
    CACHE,
)
SIDECAR_NEGATIVE_TTL_SECONDS = Number(
    "SIDECAR_NEGATIVE_TTL_SECONDS", 5.0, 0.0, 3600.0, 'cache "not found" answers', CACHE
)
SIDECAR_CACHE_MAX_BYTES = Integer(
    "SIDECAR_CACHE_MAX_BYTES", 4 * 1024 * 1024, 1024, 2**34, "byte cap of cached values", CACHE
)
SIDECAR_SECRETS_PORT_ENABLED = Flag(
    "SIDECAR_SECRETS_PORT_ENABLED",
    True,
    "turn one listener off (e.g. when AWS's AppConfig layer is also attached)",
    CACHE,
    row="PORT_ENABLED",
)
SIDECAR_APPCONFIG_PORT_ENABLED = Flag(
    "SIDECAR_APPCONFIG_PORT_ENABLED",
    True,
    "turn one listener off (e.g. when AWS's AppConfig layer is also attached)",
    CACHE,
    row="PORT_ENABLED",
)
SIDECAR_APPCONFIG_REQUIRE_TOKEN = Flag(
    "SIDECAR_APPCONFIG_REQUIRE_TOKEN", False, "require the token header on 2772 too", CACHE
)

AWS_TOKEN = Text(
    "AWS_TOKEN",
    "",
    "the `X-Aws-Parameters-Secrets-Token` (or `X-Vault-Token`) value (`file:///path` reads a file)",
    CACHE,
    fallbacks=(AWS_SESSION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN),
    secret=True,
)


def _endpoint_override(name: str, doc: str) -> Text:
    return Text(name, "", doc, CACHE, secret=True, row="AWS_ENDPOINT_URL")


AWS_ENDPOINT_URL = _endpoint_override("AWS_ENDPOINT_URL", "AWS endpoint overrides (LocalStack, moto)")
AWS_ENDPOINT_URL_SECRETS_MANAGER = _endpoint_override(
    "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS endpoint overrides (LocalStack, moto)"
)
AWS_ENDPOINT_URL_SSM = _endpoint_override("AWS_ENDPOINT_URL_SSM", "AWS endpoint overrides (LocalStack, moto)")
AWS_ENDPOINT_URL_APPCONFIGDATA = _endpoint_override(
    "AWS_ENDPOINT_URL_APPCONFIGDATA", "AWS endpoint overrides (LocalStack, moto)"
)
AWS_ENDPOINT_URL_STS = _endpoint_override("AWS_ENDPOINT_URL_STS", "AWS endpoint overrides (LocalStack, moto)")


# ---- outbound proxies ---------------------------------------------------------------------------


class ProxyAddress(Variable):
    """An outbound proxy `http://host[:port]` (or a bare `host:port`) as (host, port), port 80 when
    absent. Only plain-http proxies without credentials are supported (CONNECT carries https)."""

    fallbacks: tuple[ProxyAddress, ...]
    expected = "an http://host:port proxy"

    def __init__(
        self,
        name: str,
        doc: str,
        section: str,
        *,
        fallbacks: tuple[ProxyAddress, ...] = (),
        **common: Unpack[Common],
    ) -> None:
        super().__init__(name, doc, section, **common)
        self.default: tuple[str, int] | None = None
        self.fallbacks = fallbacks

    def parse(self, text: str) -> tuple[str, int]:
        from urllib.parse import urlsplit

        parts = urlsplit(text if "://" in text else f"http://{text}")
        if parts.scheme.lower() != "http":
            raise ValueError("only http:// proxies are supported")
        if parts.username is not None or parts.password is not None:
            raise ValueError("proxy credentials are not supported")
        if parts.path not in ("", "/") or parts.query or not parts.hostname:
            raise ValueError("expected http://host:port")
        return parts.hostname, parts.port or 80  # .port raises ValueError when not a valid port

    def get(self, env: Env) -> tuple[str, int] | None:
        chain: tuple[_Parses[tuple[str, int] | None], ...] = (self, *self.fallbacks)
        return _resolve(env, chain, self.default)

    def render(self) -> str:
        return ""


def _proxy(name: str, doc: str) -> ProxyAddress:
    # secret: a proxy URL may carry user:password, which is refused without being echoed
    return ProxyAddress(name, doc, DESTINATIONS, secret=True, row="HTTPS_PROXY")


_PROXY_DOC = (
    "outbound proxy for exporters and AWS calls (`http://host:port`; https goes through CONNECT); "
    "gRPC channels read these variables themselves"
)
HTTPS_PROXY = _proxy("HTTPS_PROXY", _PROXY_DOC)
HTTP_PROXY = _proxy("HTTP_PROXY", _PROXY_DOC)
_NO_PROXY_DOC = (
    "comma list of destinations that bypass the proxy: hosts (and their subdomains), `.domains`, "
    "`host:port`, IPs, CIDRs or `*`; loopback is always direct"
)
NO_PROXY = Text("NO_PROXY", "", _NO_PROXY_DOC, DESTINATIONS)
AWS_APPCONFIG_EXTENSION_PROXY_URL = ProxyAddress(
    "AWS_APPCONFIG_EXTENSION_PROXY_URL",
    "proxy for the AppConfig calls only (and the AssumeRole of `..._ROLE_ARN`), instead of "
    "`HTTPS_PROXY`/`HTTP_PROXY` (`http://host:port`; loopback is always direct)",
    CACHE,
    secret=True,
)
AWS_APPCONFIG_EXTENSION_PROXY_HEADERS = Pairs(
    "AWS_APPCONFIG_EXTENSION_PROXY_HEADERS",
    "headers sent to that proxy (`Name=value,Name2=value2`, e.g. `Proxy-Authorization=Basic ...`)",
    CACHE,
    secret=True,
)


def declared() -> list[Variable]:
    """Every declared variable, in declaration order."""
    return [value for value in globals().values() if isinstance(value, Variable)]

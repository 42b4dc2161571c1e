"""The ONLY reader of the environment: every variable the extension honours is named here.

`from_env(mapping)` resolves everything once into frozen `Settings`. Validation collects every
problem into one `ConfigError` whose message names each bad variable, so a user fixing their
configuration sees all mistakes at once (reported through `/extension/init/error`).

Precedence for each setting: our `SIDECAR_*` variable, then the standard `OTEL_*` or AWS
variable, then the default. Standard library only (imported on the fast start-up path).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import unquote, urlsplit

T = TypeVar("T")

# --------------------------------------------------------------------------------------------
# Variable names. Each constant's docstring-comment gives meaning, unit, default and range.
# --------------------------------------------------------------------------------------------

# Platform (set by Lambda)
AWS_LAMBDA_RUNTIME_API = "AWS_LAMBDA_RUNTIME_API"  #: host:port of the Runtime/Extensions API.
AWS_LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"
AWS_LAMBDA_FUNCTION_VERSION = "AWS_LAMBDA_FUNCTION_VERSION"
AWS_LAMBDA_FUNCTION_MEMORY_SIZE = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"  #: MB.
AWS_LAMBDA_INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
AWS_REGION = "AWS_REGION"
AWS_DEFAULT_REGION = "AWS_DEFAULT_REGION"
AWS_ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
AWS_SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"
AWS_SESSION_TOKEN = "AWS_SESSION_TOKEN"
AWS_TOKEN = "AWS_TOKEN"  #: Cache token override (SMA); `file:///path` reads a file.
AWS_CONTAINER_AUTHORIZATION_TOKEN = "AWS_CONTAINER_AUTHORIZATION_TOKEN"  #: SnapStart fallback token.
AWS_CONTAINER_CREDENTIALS_FULL_URI = (
    "AWS_CONTAINER_CREDENTIALS_FULL_URI"  #: credentials endpoint (SnapStart: no AWS_ACCESS_KEY_ID set).
)
AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"  #: botocore's global endpoint override (LocalStack, moto).
AWS_ENDPOINT_URL_SECRETS_MANAGER = "AWS_ENDPOINT_URL_SECRETS_MANAGER"
AWS_ENDPOINT_URL_SSM = "AWS_ENDPOINT_URL_SSM"
AWS_ENDPOINT_URL_APPCONFIGDATA = "AWS_ENDPOINT_URL_APPCONFIGDATA"
# Outbound proxies (the AWS SDKs' and curl's convention; the lower-case names are read too, the
# upper-case one wins). `http://host:port` only; gRPC channels read these variables themselves.
HTTPS_PROXY = "HTTPS_PROXY"  #: proxy for https destinations (CONNECT tunnel). Default: none.
HTTP_PROXY = "HTTP_PROXY"  #: proxy for http destinations. Default: none.
NO_PROXY = "NO_PROXY"  #: comma list of hosts, .domains, host:port, IPs, CIDRs, or `*`: go direct.

# OpenTelemetry standard
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"  #: service.name; default: the function name.
OTEL_RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"  #: k=v,k2=v2 (URL-encoded values).
OTEL_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"  #: `none` disables spans.
OTEL_METRICS_EXPORTER = "OTEL_METRICS_EXPORTER"  #: `none` disables metrics.
OTEL_LOGS_EXPORTER = "OTEL_LOGS_EXPORTER"  #: `none` disables logs.
OTEL_EXPORTER_OTLP_PREFIX = "OTEL_EXPORTER_OTLP_"  #: ENDPOINT, PROTOCOL, HEADERS, TIMEOUT, COMPRESSION,
#: CERTIFICATE; per signal OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_<same>.

# lambda-sidecar: general and telemetry intake
SIDECAR_DISABLED = "SIDECAR_DISABLED"  #: true: register and idle (kill switch). Default false.
SIDECAR_LOG_LEVEL = "SIDECAR_LOG_LEVEL"  #: our own log level: debug|info|warning|error. Default info.
SIDECAR_TELEMETRY_ENABLED = "SIDECAR_TELEMETRY_ENABLED"  #: subscribe to the Telemetry API. Default true.
SIDECAR_TELEMETRY_TYPES = "SIDECAR_TELEMETRY_TYPES"  #: subset of platform,function,extension. Default all.
SIDECAR_TELEMETRY_PORT = "SIDECAR_TELEMETRY_PORT"  #: listener port; 0 = any free port. Default 0.
SIDECAR_TELEMETRY_MAX_ITEMS = (
    "SIDECAR_TELEMETRY_MAX_ITEMS"  #: Lambda-side buffering, 1000-10000. Default 1000.
)
SIDECAR_TELEMETRY_MAX_BYTES = "SIDECAR_TELEMETRY_MAX_BYTES"  #: 262144-1048576. Default 262144.
SIDECAR_TELEMETRY_TIMEOUT_MS = "SIDECAR_TELEMETRY_TIMEOUT_MS"  #: 25-30000. Default 25.

# lambda-sidecar: flushing and buffers
SIDECAR_FLUSH_POLICY = "SIDECAR_FLUSH_POLICY"  #: adaptive|end|periodic|shutdown. Default adaptive.
SIDECAR_FLUSH_INTERVAL_SECONDS = "SIDECAR_FLUSH_INTERVAL_SECONDS"  #: periodic interval. Default 20.
SIDECAR_ADAPTIVE_MIN_RATE = (
    "SIDECAR_ADAPTIVE_MIN_RATE"  #: invokes/minute at which adaptive goes periodic. Default 6.
)
SIDECAR_EXPORT_BUDGET_MS = (
    "SIDECAR_EXPORT_BUDGET_MS"  #: max time one flush may add to an invoke. Default 300.
)
SIDECAR_BUFFER_MAX_ITEMS = "SIDECAR_BUFFER_MAX_ITEMS"  #: per destination queue. Default 20000.
SIDECAR_BUFFER_MAX_BYTES = "SIDECAR_BUFFER_MAX_BYTES"  #: per destination queue (estimate). Default 8 MiB.

# lambda-sidecar: processing
SIDECAR_SPANS_ENABLED = "SIDECAR_SPANS_ENABLED"  #: Default true (OTEL_TRACES_EXPORTER=none also disables).
SIDECAR_METRICS_ENABLED = "SIDECAR_METRICS_ENABLED"  #: Default true.
SIDECAR_LOGS_ENABLED = "SIDECAR_LOGS_ENABLED"  #: Default true.
SIDECAR_LOG_MIN_LEVEL = (
    "SIDECAR_LOG_MIN_LEVEL"  #: drop function/extension records below: trace..fatal. Default trace.
)
SIDECAR_PLATFORM_LOGS = "SIDECAR_PLATFORM_LOGS"  #: render START/END/REPORT log lines. Default false.
SIDECAR_REDACT_DEFAULTS = (
    "SIDECAR_REDACT_DEFAULTS"  #: apply built-in rules (AWS keys, bearer tokens). Default true.
)
SIDECAR_REDACT_PATTERNS = "SIDECAR_REDACT_PATTERNS"  #: extra regexes: a JSON array, or one regex.
SIDECAR_SPAN_STYLE = "SIDECAR_SPAN_STYLE"  #: children|events for runtimeDone spans. Default children.

# lambda-sidecar: destinations
SIDECAR_EXPORTERS = "SIDECAR_EXPORTERS"  #: comma list of otlp,http_json,stdout,file. Default: otlp if an
#: OTLP endpoint is set, else stdout.
SIDECAR_HTTP_JSON_URL = "SIDECAR_HTTP_JSON_URL"
SIDECAR_HTTP_JSON_HEADERS = "SIDECAR_HTTP_JSON_HEADERS"  #: k=v,k2=v2; values may be ${secretsmanager:..}.
SIDECAR_HTTP_JSON_FORMAT = "SIDECAR_HTTP_JSON_FORMAT"  #: raw (Telemetry API events) | otel. Default raw.
SIDECAR_HTTP_JSON_COMPRESSION = "SIDECAR_HTTP_JSON_COMPRESSION"  #: gzip|none. Default gzip.
SIDECAR_HTTP_JSON_MAX_BATCH = "SIDECAR_HTTP_JSON_MAX_BATCH"  #: items per POST. Default 1000.
SIDECAR_HTTP_JSON_TIMEOUT_MS = "SIDECAR_HTTP_JSON_TIMEOUT_MS"  #: per attempt. Default 5000.
SIDECAR_STDOUT_SIGNALS = "SIDECAR_STDOUT_SIGNALS"  #: subset of metrics,spans,logs. Default metrics.
SIDECAR_EMF_NAMESPACE = "SIDECAR_EMF_NAMESPACE"  #: CloudWatch namespace. Default LambdaSidecar.
SIDECAR_FILE_PATH = "SIDECAR_FILE_PATH"  #: JSON lines file. Default /tmp/lambda-sidecar.jsonl.
SIDECAR_FILE_MAX_BYTES = "SIDECAR_FILE_MAX_BYTES"  #: size bound (rotates once to .1). Default 10 MiB.
SIDECAR_RETRY_INITIAL_MS = "SIDECAR_RETRY_INITIAL_MS"  #: first backoff. Default 100.
SIDECAR_RETRY_MAX_MS = "SIDECAR_RETRY_MAX_MS"  #: backoff cap. Default 5000.

# Secrets / parameters cache (AWS Parameters and Secrets extension names, AWS defaults)
PSE_PREFIX = "PARAMETERS_SECRETS_EXTENSION_"
PSE_PREFIX_MISSPELLED = "PARAMETERS_AND_SECRETS_EXTENSION_"  #: accepted with a warning (aws-cdk#26011).
PSE_CACHE_ENABLED = PSE_PREFIX + "CACHE_ENABLED"  #: Default true.
PSE_CACHE_SIZE = PSE_PREFIX + "CACHE_SIZE"  #: items, 0-1000. Default 1000.
PSE_HTTP_PORT = PSE_PREFIX + "HTTP_PORT"  #: Default 2773.
PSE_MAX_CONNECTIONS = PSE_PREFIX + "MAX_CONNECTIONS"  #: concurrent requests. Default 3.
PSE_LOG_LEVEL = PSE_PREFIX + "LOG_LEVEL"  #: accepted for compatibility.
SECRETS_MANAGER_TTL = "SECRETS_MANAGER_TTL"  #: seconds, 0-3600. Default 300.
SSM_PARAMETER_STORE_TTL = "SSM_PARAMETER_STORE_TTL"  #: seconds, 0-3600. Default 300.
SECRETS_MANAGER_TIMEOUT_MILLIS = "SECRETS_MANAGER_TIMEOUT_MILLIS"  #: 0 = our default 3000.
SSM_PARAMETER_STORE_TIMEOUT_MILLIS = "SSM_PARAMETER_STORE_TIMEOUT_MILLIS"  #: 0 = our default 3000.

# AppConfig agent names
APPCONFIG_PREFIX = "AWS_APPCONFIG_EXTENSION_"
APPCONFIG_HTTP_PORT = APPCONFIG_PREFIX + "HTTP_PORT"  #: Default 2772.
APPCONFIG_POLL_INTERVAL_SECONDS = APPCONFIG_PREFIX + "POLL_INTERVAL_SECONDS"  #: 45; accepts s/m/h suffix.
APPCONFIG_POLL_TIMEOUT_MILLIS = APPCONFIG_PREFIX + "POLL_TIMEOUT_MILLIS"  #: 3000; accepts ms/s suffix.
APPCONFIG_PREFETCH_LIST = (
    APPCONFIG_PREFIX + "PREFETCH_LIST"
)  #: /applications/A/environments/E/configurations/C or A:E:C.
APPCONFIG_MAX_CONNECTIONS = APPCONFIG_PREFIX + "MAX_CONNECTIONS"  #: Default 3.
APPCONFIG_SERVICE_REGION = APPCONFIG_PREFIX + "SERVICE_REGION"  #: default: AWS_REGION.

# lambda-sidecar cache extras
SIDECAR_SECRETS_PORT_ENABLED = "SIDECAR_SECRETS_PORT_ENABLED"  #: serve 2773. Default true.
SIDECAR_APPCONFIG_PORT_ENABLED = "SIDECAR_APPCONFIG_PORT_ENABLED"  #: serve 2772. Default true.
SIDECAR_APPCONFIG_REQUIRE_TOKEN = (
    "SIDECAR_APPCONFIG_REQUIRE_TOKEN"  #: token check on 2772 too. Default false.
)
SIDECAR_PREFETCH = "SIDECAR_PREFETCH"  #: comma list: sm:NAME, ssm:NAME[?withDecryption=true].
SIDECAR_MAX_STALE_SECONDS = "SIDECAR_MAX_STALE_SECONDS"  #: serve stale on AWS errors for up to. Default 900.
SIDECAR_REFRESH_AHEAD_FRACTION = (
    "SIDECAR_REFRESH_AHEAD_FRACTION"  #: refresh at INVOKE after this TTL share. 0.8.
)
SIDECAR_NEGATIVE_TTL_SECONDS = "SIDECAR_NEGATIVE_TTL_SECONDS"  #: cache not-found for. Default 5.
SIDECAR_CACHE_MAX_BYTES = "SIDECAR_CACHE_MAX_BYTES"  #: total cached value bytes. Default 4 MiB.

DEFAULT_REGION = "us-east-1"
_NO_PAIRS: tuple[tuple[str, str], ...] = ()
_BOOL_TRUE = {"1", "true", "yes", "on"}
_BOOL_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """Every configuration problem at once; `problems` holds one message per bad variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration: " + "; ".join(problems))
        self.problems = problems


class FlushPolicy(enum.Enum):
    ADAPTIVE = "adaptive"
    END = "end"
    PERIODIC = "periodic"
    SHUTDOWN = "shutdown"


# --------------------------------------------------------------------------------------------
# Settings sections
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionInfo:
    """What the platform tells us about the function (environment; refined by the register answer)."""

    name: str
    version: str
    memory_mb: int
    region: str
    initialization_type: str
    runtime_api: str


@dataclass(frozen=True)
class TelemetrySettings:
    enabled: bool = True
    types: tuple[str, ...] = ("platform", "function", "extension")
    port: int = 0
    max_items: int = 1000
    max_bytes: int = 262144
    timeout_ms: int = 25


@dataclass(frozen=True)
class PipelineSettings:
    flush_policy: FlushPolicy = FlushPolicy.ADAPTIVE
    flush_interval_s: float = 20.0
    adaptive_min_rate_per_minute: float = 6.0
    export_budget_ms: int = 300
    buffer_max_items: int = 20000
    buffer_max_bytes: int = 8 * 1024 * 1024


@dataclass(frozen=True)
class ProcessingSettings:
    spans: bool = True
    metrics: bool = True
    logs: bool = True
    log_min_level: str = "TRACE"
    platform_logs: bool = False
    redact_defaults: bool = True
    redact_patterns: tuple[str, ...] = ()
    span_style: str = "children"


@dataclass(frozen=True)
class OtlpSignalSettings:
    """Resolved OTLP settings for one signal (traces, metrics or logs)."""

    endpoint: str
    protocol: str  # "http/protobuf" | "grpc"
    headers: tuple[tuple[str, str], ...]
    timeout_ms: int
    compression: str  # "gzip" | "none"
    certificate: str | None


@dataclass(frozen=True)
class OtlpSettings:
    traces: OtlpSignalSettings
    metrics: OtlpSignalSettings
    logs: OtlpSignalSettings


@dataclass(frozen=True)
class HttpJsonSettings:
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    format: str = "raw"  # "raw" | "otel"
    compression: str = "gzip"
    max_batch: int = 1000
    timeout_ms: int = 5000


@dataclass(frozen=True)
class StdoutSettings:
    signals: tuple[str, ...] = ("metrics",)
    emf_namespace: str = "LambdaSidecar"


@dataclass(frozen=True)
class FileSettings:
    path: str = "/tmp/lambda-sidecar.jsonl"
    max_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class RetrySettings:
    initial_ms: int = 100
    max_ms: int = 5000


@dataclass(frozen=True)
class ExportersSettings:
    names: tuple[str, ...]
    otlp: OtlpSettings | None
    http_json: HttpJsonSettings | None
    stdout: StdoutSettings
    file: FileSettings
    retry: RetrySettings


@dataclass(frozen=True)
class PrefetchItem:
    """One secret or parameter to fetch at cold start (`sm:NAME`, `ssm:NAME?withDecryption=true`)."""

    service: str  # "secretsmanager" | "ssm"
    name: str
    with_decryption: bool = False


@dataclass(frozen=True)
class AppConfigTarget:
    application: str
    environment: str
    profile: str


@dataclass(frozen=True)
class AwsSettings:
    """Credentials and endpoints for the one place that signs AWS calls (cache/aws.py)."""

    region: str
    access_key_id: str | None
    secret_access_key: str | None
    session_token: str | None
    endpoint_url: str | None
    endpoint_secrets_manager: str | None
    endpoint_ssm: str | None
    endpoint_appconfigdata: str | None
    #: Container credentials provider (SnapStart functions get credentials here, not in env vars);
    #: GET with `Authorization: <container_authorization_token>`. Used when no static keys are set.
    container_credentials_uri: str | None = None
    container_authorization_token: str | None = None


@dataclass(frozen=True)
class CacheSettings:
    enabled: bool = True
    secrets_port_enabled: bool = True
    secrets_port: int = 2773
    appconfig_port_enabled: bool = True
    appconfig_port: int = 2772
    appconfig_require_token: bool = False
    token: str | None = None
    max_items: int = 1000
    max_bytes: int = 4 * 1024 * 1024
    max_connections: int = 3
    secrets_ttl_s: float = 300.0
    ssm_ttl_s: float = 300.0
    secrets_timeout_ms: int = 3000
    ssm_timeout_ms: int = 3000
    max_stale_s: float = 900.0
    refresh_ahead_fraction: float = 0.8
    negative_ttl_s: float = 5.0
    prefetch: tuple[PrefetchItem, ...] = ()
    appconfig_prefetch: tuple[AppConfigTarget, ...] = ()
    appconfig_poll_interval_s: float = 45.0
    appconfig_poll_timeout_ms: int = 3000
    appconfig_max_connections: int = 3
    appconfig_region: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProxySettings:
    """Outbound proxies as (host, port); loopback destinations never use them."""

    https: tuple[str, int] | None = None
    http: tuple[str, int] | None = None
    no_proxy: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    function: FunctionInfo
    disabled: bool
    log_level: str
    service_name: str
    resource_attributes: tuple[tuple[str, str], ...]
    telemetry: TelemetrySettings
    pipeline: PipelineSettings
    processing: ProcessingSettings
    exporters: ExportersSettings
    cache: CacheSettings
    aws: AwsSettings
    warnings: tuple[str, ...] = field(default=())
    proxy: ProxySettings = field(default=ProxySettings())


# --------------------------------------------------------------------------------------------
# Parsing helpers: each records a problem instead of raising, so all problems surface at once.
# --------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def raw(self, *names: str) -> tuple[str, str] | None:
        """First set (non-empty) variable of `names` as (name, value)."""
        for name in names:
            value = self.env.get(name)
            if value is not None and value.strip() != "":
                return name, value.strip()
        return None

    def get(self, names: tuple[str, ...] | str, default: T, parse: Callable[[str], T], what: str) -> T:
        names_t = (names,) if isinstance(names, str) else names
        found = self.raw(*names_t)
        if found is None:
            return default
        name, value = found
        try:
            return parse(value)
        except (ValueError, TypeError) as exc:
            detail = f" ({exc})" if str(exc) else ""
            self.problems.append(f"{name}={value!r} is not {what}{detail}")
            return default

    def boolean(self, names: tuple[str, ...] | str, default: bool) -> bool:
        return self.get(names, default, _parse_bool, "a boolean (true/false)")

    def integer(self, names: tuple[str, ...] | str, default: int, lo: int, hi: int) -> int:
        return self.get(names, default, lambda v: _in_range(int(v), lo, hi), f"an integer in [{lo}, {hi}]")

    def number(self, names: tuple[str, ...] | str, default: float, lo: float, hi: float) -> float:
        return self.get(names, default, lambda v: _in_range(float(v), lo, hi), f"a number in [{lo}, {hi}]")

    def choice(self, names: tuple[str, ...] | str, default: str, choices: tuple[str, ...]) -> str:
        def parse(v: str) -> str:
            if v.lower() not in choices:
                raise ValueError
            return v.lower()

        return self.get(names, default, parse, "one of " + "|".join(choices))

    def subset(
        self, names: tuple[str, ...] | str, default: tuple[str, ...], allowed: tuple[str, ...]
    ) -> tuple[str, ...]:
        def parse(v: str) -> tuple[str, ...]:
            items = tuple(dict.fromkeys(p.strip().lower() for p in v.split(",") if p.strip()))
            bad = [i for i in items if i not in allowed]
            if bad or not items:
                raise ValueError(f"unknown: {', '.join(bad)}" if bad else "empty")
            return items

        return self.get(names, default, parse, "a comma list of " + ",".join(allowed))


T_num = TypeVar("T_num", int, float)


def _in_range(value: T_num, lo: T_num, hi: T_num) -> T_num:
    if not lo <= value <= hi:
        raise ValueError("out of range")
    return value


def _parse_bool(value: str) -> bool:
    v = value.strip().lower()
    if v in _BOOL_TRUE:
        return True
    if v in _BOOL_FALSE:
        return False
    raise ValueError


def parse_key_values(value: str) -> tuple[tuple[str, str], ...]:
    """W3C-baggage-like `k=v,k2=v2` (the OTEL_*_HEADERS / OTEL_RESOURCE_ATTRIBUTES format).

    Values are URL-decoded; a value may itself contain `=` (e.g. base64)."""
    pairs: list[tuple[str, str]] = []
    for part in value.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"entry {part.strip()!r} has no '='")
        key, _, val = part.partition("=")
        key = unquote(key.strip())
        if not key:
            raise ValueError("empty key")
        pairs.append((key, unquote(val.strip())))
    return tuple(pairs)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)


def parse_duration(value: str, default_unit: str) -> float:
    """`45`, `45s`, `5m`, `1h`, `3000ms` -> seconds (AppConfig agent accepts these forms)."""
    m = _DURATION.match(value)
    if not m:
        raise ValueError("expected a number with an optional ms/s/m/h unit")
    unit = (m.group(2) or default_unit).lower()
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]


def parse_prefetch(value: str) -> tuple[PrefetchItem, ...]:
    items: list[PrefetchItem] = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        service, sep, rest = part.partition(":")
        service = {"sm": "secretsmanager", "secretsmanager": "secretsmanager", "ssm": "ssm"}.get(
            service.lower(), ""
        )
        if not sep or not service or not rest:
            raise ValueError(f"entry {part!r} is not sm:NAME or ssm:NAME")
        name, _, query = rest.partition("?")
        with_decryption = "withdecryption=true" in query.lower().replace(" ", "")
        items.append(PrefetchItem(service, name, with_decryption))
    return tuple(items)


def parse_appconfig_prefetch(value: str) -> tuple[AppConfigTarget, ...]:
    targets: list[AppConfigTarget] = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"/applications/([^/]+)/environments/([^/]+)/configurations/([^/]+)", part)
        if m:
            targets.append(AppConfigTarget(unquote(m.group(1)), unquote(m.group(2)), unquote(m.group(3))))
            continue
        fields = part.split(":")
        if len(fields) != 3 or not all(fields):
            raise ValueError(
                f"entry {part!r} is not /applications/A/environments/E/configurations/C or A:E:C"
            )
        targets.append(AppConfigTarget(*fields))
    return tuple(targets)


def _parse_patterns(value: str) -> tuple[str, ...]:
    patterns: list[str] = json.loads(value) if value.lstrip().startswith("[") else [value]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ValueError("expected a JSON array of strings")
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"bad regex {p!r}: {exc}") from exc
    return tuple(patterns)


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------

_SIGNALS = ("traces", "metrics", "logs")
_OTLP_HTTP_PATHS = {"traces": "/v1/traces", "metrics": "/v1/metrics", "logs": "/v1/logs"}


def _otlp_signal(r: _Reader, signal: str) -> OtlpSignalSettings | None:
    base, sig = OTEL_EXPORTER_OTLP_PREFIX, f"{OTEL_EXPORTER_OTLP_PREFIX}{signal.upper()}_"
    protocol = r.choice((sig + "PROTOCOL", base + "PROTOCOL"), "http/protobuf", ("http/protobuf", "grpc"))
    specific = r.raw(sig + "ENDPOINT")
    general = r.raw(base + "ENDPOINT")
    if specific:
        endpoint = specific[1]
    elif general:
        endpoint = general[1].rstrip("/")
        if protocol == "http/protobuf":
            endpoint += _OTLP_HTTP_PATHS[signal]
    else:
        return None
    source, given = specific or general or ("", "")
    if not re.match(r"^https?://[^/\s]+", given):
        r.problems.append(f"{source}={given!r} is not an http(s) URL")
    headers = r.get((sig + "HEADERS", base + "HEADERS"), _NO_PAIRS, parse_key_values, "a k=v,k2=v2 list")
    timeout = r.integer((sig + "TIMEOUT", base + "TIMEOUT"), 10000, 1, 600000)
    compression = r.choice((sig + "COMPRESSION", base + "COMPRESSION"), "gzip", ("gzip", "none"))
    cert = r.raw(sig + "CERTIFICATE", base + "CERTIFICATE")
    return OtlpSignalSettings(endpoint, protocol, headers, timeout, compression, cert[1] if cert else None)


def _exporters(r: _Reader) -> ExportersSettings:
    per_signal = {s: _otlp_signal(r, s) for s in _SIGNALS}
    configured = [v for v in per_signal.values() if v is not None]
    otlp: OtlpSettings | None = None
    if configured:
        fallback = configured[0]
        otlp = OtlpSettings(*(per_signal[s] or fallback for s in _SIGNALS))
    http_url = r.raw(SIDECAR_HTTP_JSON_URL)
    default_names: tuple[str, ...] = ("otlp",) if otlp else ("stdout",)
    names = r.subset(SIDECAR_EXPORTERS, default_names, ("otlp", "http_json", "stdout", "file"))
    if "otlp" in names and otlp is None:
        r.problems.append(f"{SIDECAR_EXPORTERS} includes otlp but OTEL_EXPORTER_OTLP_ENDPOINT is not set")
    http_json: HttpJsonSettings | None = None
    if http_url:
        if not re.match(r"^https?://[^/\s]+", http_url[1]):
            r.problems.append(f"{SIDECAR_HTTP_JSON_URL}={http_url[1]!r} is not an http(s) URL")
        http_json = HttpJsonSettings(
            url=http_url[1],
            headers=r.get(SIDECAR_HTTP_JSON_HEADERS, _NO_PAIRS, parse_key_values, "a k=v,k2=v2 list"),
            format=r.choice(SIDECAR_HTTP_JSON_FORMAT, "raw", ("raw", "otel")),
            compression=r.choice(SIDECAR_HTTP_JSON_COMPRESSION, "gzip", ("gzip", "none")),
            max_batch=r.integer(SIDECAR_HTTP_JSON_MAX_BATCH, 1000, 1, 100000),
            timeout_ms=r.integer(SIDECAR_HTTP_JSON_TIMEOUT_MS, 5000, 1, 600000),
        )
    elif "http_json" in names:
        r.problems.append(f"{SIDECAR_EXPORTERS} includes http_json but {SIDECAR_HTTP_JSON_URL} is not set")
    stdout = StdoutSettings(
        signals=r.subset(SIDECAR_STDOUT_SIGNALS, ("metrics",), ("metrics", "spans", "logs")),
        emf_namespace=r.get(SIDECAR_EMF_NAMESPACE, "LambdaSidecar", str, "a namespace"),
    )
    file = FileSettings(
        path=r.get(SIDECAR_FILE_PATH, "/tmp/lambda-sidecar.jsonl", str, "a path"),
        max_bytes=r.integer(SIDECAR_FILE_MAX_BYTES, 10 * 1024 * 1024, 1024, 2**40),
    )
    retry = RetrySettings(
        initial_ms=r.integer(SIDECAR_RETRY_INITIAL_MS, 100, 1, 60000),
        max_ms=r.integer(SIDECAR_RETRY_MAX_MS, 5000, 1, 600000),
    )
    return ExportersSettings(names, otlp, http_json, stdout, file, retry)


def _pse(name: str) -> tuple[str, str]:
    """The AWS name and its common misspelling (PARAMETERS_AND_SECRETS_EXTENSION_*)."""
    return name, name.replace(PSE_PREFIX, PSE_PREFIX_MISSPELLED)


def _cache(r: _Reader) -> CacheSettings:
    warnings = [
        f"{k} is a misspelling of {k.replace(PSE_PREFIX_MISSPELLED, PSE_PREFIX)}; honoured"
        for k in r.env
        if k.startswith(PSE_PREFIX_MISSPELLED)
    ]

    def timeout_ms(name: str) -> int:
        value = r.integer(name, 0, 0, 600000)
        return value or 3000  # AWS's 0 means "no timeout"; an unbounded call would block the handler

    token = r.raw(AWS_TOKEN, AWS_SESSION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN)
    return CacheSettings(
        enabled=r.boolean(_pse(PSE_CACHE_ENABLED), True),
        secrets_port_enabled=r.boolean(SIDECAR_SECRETS_PORT_ENABLED, True),
        secrets_port=r.integer(_pse(PSE_HTTP_PORT), 2773, 1, 65535),
        appconfig_port_enabled=r.boolean(SIDECAR_APPCONFIG_PORT_ENABLED, True),
        appconfig_port=r.integer(APPCONFIG_HTTP_PORT, 2772, 1, 65535),
        appconfig_require_token=r.boolean(SIDECAR_APPCONFIG_REQUIRE_TOKEN, False),
        token=token[1] if token else None,
        max_items=r.integer(_pse(PSE_CACHE_SIZE), 1000, 0, 1000),
        max_bytes=r.integer(SIDECAR_CACHE_MAX_BYTES, 4 * 1024 * 1024, 1024, 2**34),
        max_connections=r.integer(_pse(PSE_MAX_CONNECTIONS), 3, 1, 1000),
        secrets_ttl_s=r.number(SECRETS_MANAGER_TTL, 300.0, 0.0, 3600.0),
        ssm_ttl_s=r.number(SSM_PARAMETER_STORE_TTL, 300.0, 0.0, 3600.0),
        secrets_timeout_ms=timeout_ms(SECRETS_MANAGER_TIMEOUT_MILLIS),
        ssm_timeout_ms=timeout_ms(SSM_PARAMETER_STORE_TIMEOUT_MILLIS),
        max_stale_s=r.number(SIDECAR_MAX_STALE_SECONDS, 900.0, 0.0, 86400.0),
        refresh_ahead_fraction=r.number(SIDECAR_REFRESH_AHEAD_FRACTION, 0.8, 0.0, 1.0),
        negative_ttl_s=r.number(SIDECAR_NEGATIVE_TTL_SECONDS, 5.0, 0.0, 3600.0),
        prefetch=r.get(SIDECAR_PREFETCH, (), parse_prefetch, "a prefetch list (sm:NAME,ssm:NAME)"),
        appconfig_prefetch=r.get(
            APPCONFIG_PREFETCH_LIST,
            (),
            parse_appconfig_prefetch,
            "a list of A:E:C or /applications/... paths",
        ),
        appconfig_poll_interval_s=r.get(
            APPCONFIG_POLL_INTERVAL_SECONDS, 45.0, lambda v: parse_duration(v, "s"), "a duration"
        ),
        appconfig_poll_timeout_ms=int(
            r.get(APPCONFIG_POLL_TIMEOUT_MILLIS, 3.0, lambda v: parse_duration(v, "ms"), "a duration") * 1000
        ),
        appconfig_max_connections=r.integer(APPCONFIG_MAX_CONNECTIONS, 3, 1, 1000),
        appconfig_region=(r.raw(APPCONFIG_SERVICE_REGION) or (None, None))[1],
        warnings=tuple(warnings),
    )


def parse_proxy_url(value: str) -> tuple[str, int]:
    """`http://host[:port]` (or a bare `host:port`) -> (host, port); port 80 when absent."""
    parts = urlsplit(value if "://" in value else f"http://{value}")
    if parts.scheme.lower() != "http":
        raise ValueError("only http:// proxies are supported")
    if parts.username is not None or parts.password is not None:
        raise ValueError("proxy credentials are not supported")
    if parts.path not in ("", "/") or parts.query or not parts.hostname:
        raise ValueError("expected http://host:port")
    return parts.hostname, parts.port or 80  # .port raises ValueError when out of range


def _proxy(r: _Reader) -> ProxySettings:
    no_proxy = (r.raw(NO_PROXY, NO_PROXY.lower()) or ("", ""))[1]
    return ProxySettings(
        https=r.get((HTTPS_PROXY, HTTPS_PROXY.lower()), None, parse_proxy_url, "an http://host:port proxy"),
        http=r.get((HTTP_PROXY, HTTP_PROXY.lower()), None, parse_proxy_url, "an http://host:port proxy"),
        no_proxy=tuple(e.strip().lower() for e in no_proxy.split(",") if e.strip()),
    )


def from_env(env: Mapping[str, str]) -> Settings:
    """Resolve every setting from `env` (normally `os.environ`); ConfigError names each bad variable."""
    r = _Reader(env)
    region = (r.raw(AWS_REGION, AWS_DEFAULT_REGION) or ("", DEFAULT_REGION))[1]
    function = FunctionInfo(
        name=env.get(AWS_LAMBDA_FUNCTION_NAME, "") or "unknown-function",
        version=env.get(AWS_LAMBDA_FUNCTION_VERSION, "") or "$LATEST",
        memory_mb=r.integer(AWS_LAMBDA_FUNCTION_MEMORY_SIZE, 128, 1, 1_000_000),
        region=region,
        initialization_type=env.get(AWS_LAMBDA_INITIALIZATION_TYPE, "") or "on-demand",
        runtime_api=env.get(AWS_LAMBDA_RUNTIME_API, ""),
    )
    traces_off = (r.raw(OTEL_TRACES_EXPORTER) or ("", ""))[1].lower() == "none"
    metrics_off = (r.raw(OTEL_METRICS_EXPORTER) or ("", ""))[1].lower() == "none"
    logs_off = (r.raw(OTEL_LOGS_EXPORTER) or ("", ""))[1].lower() == "none"
    telemetry = TelemetrySettings(
        enabled=r.boolean(SIDECAR_TELEMETRY_ENABLED, True),
        types=r.subset(
            SIDECAR_TELEMETRY_TYPES,
            ("platform", "function", "extension"),
            ("platform", "function", "extension"),
        ),
        port=r.integer(SIDECAR_TELEMETRY_PORT, 0, 0, 65535),
        max_items=r.integer(SIDECAR_TELEMETRY_MAX_ITEMS, 1000, 1000, 10000),
        max_bytes=r.integer(SIDECAR_TELEMETRY_MAX_BYTES, 262144, 262144, 1048576),
        timeout_ms=r.integer(SIDECAR_TELEMETRY_TIMEOUT_MS, 25, 25, 30000),
    )
    pipeline = PipelineSettings(
        flush_policy=FlushPolicy(
            r.choice(SIDECAR_FLUSH_POLICY, "adaptive", tuple(p.value for p in FlushPolicy))
        ),
        flush_interval_s=r.number(SIDECAR_FLUSH_INTERVAL_SECONDS, 20.0, 0.0, 3600.0),
        adaptive_min_rate_per_minute=r.number(SIDECAR_ADAPTIVE_MIN_RATE, 6.0, 0.0, 1e6),
        export_budget_ms=r.integer(SIDECAR_EXPORT_BUDGET_MS, 300, 1, 900000),
        buffer_max_items=r.integer(SIDECAR_BUFFER_MAX_ITEMS, 20000, 1, 10_000_000),
        buffer_max_bytes=r.integer(SIDECAR_BUFFER_MAX_BYTES, 8 * 1024 * 1024, 1024, 2**34),
    )
    processing = ProcessingSettings(
        spans=r.boolean(SIDECAR_SPANS_ENABLED, True) and not traces_off,
        metrics=r.boolean(SIDECAR_METRICS_ENABLED, True) and not metrics_off,
        logs=r.boolean(SIDECAR_LOGS_ENABLED, True) and not logs_off,
        log_min_level=r.choice(
            SIDECAR_LOG_MIN_LEVEL,
            "trace",
            ("trace", "debug", "info", "warn", "warning", "error", "fatal", "critical"),
        ).upper(),
        platform_logs=r.boolean(SIDECAR_PLATFORM_LOGS, False),
        redact_defaults=r.boolean(SIDECAR_REDACT_DEFAULTS, True),
        redact_patterns=r.get(
            SIDECAR_REDACT_PATTERNS, (), _parse_patterns, "a regex or JSON array of regexes"
        ),
        span_style=r.choice(SIDECAR_SPAN_STYLE, "children", ("children", "events")),
    )
    aws = AwsSettings(
        region=region,
        access_key_id=env.get(AWS_ACCESS_KEY_ID) or None,
        secret_access_key=env.get(AWS_SECRET_ACCESS_KEY) or None,
        session_token=env.get(AWS_SESSION_TOKEN) or None,
        endpoint_url=env.get(AWS_ENDPOINT_URL) or None,
        endpoint_secrets_manager=env.get(AWS_ENDPOINT_URL_SECRETS_MANAGER) or None,
        endpoint_ssm=env.get(AWS_ENDPOINT_URL_SSM) or None,
        endpoint_appconfigdata=env.get(AWS_ENDPOINT_URL_APPCONFIGDATA) or None,
        container_credentials_uri=env.get(AWS_CONTAINER_CREDENTIALS_FULL_URI) or None,
        container_authorization_token=env.get(AWS_CONTAINER_AUTHORIZATION_TOKEN) or None,
    )
    settings = Settings(
        function=function,
        disabled=r.boolean(SIDECAR_DISABLED, False),
        log_level=r.choice(SIDECAR_LOG_LEVEL, "info", ("debug", "info", "warning", "error")),
        service_name=(r.raw(OTEL_SERVICE_NAME) or ("", function.name))[1],
        resource_attributes=r.get(OTEL_RESOURCE_ATTRIBUTES, _NO_PAIRS, parse_key_values, "a k=v,k2=v2 list"),
        telemetry=telemetry,
        pipeline=pipeline,
        processing=processing,
        exporters=_exporters(r),
        cache=_cache(r),
        aws=aws,
        warnings=tuple(r.warnings),
        proxy=_proxy(r),
    )
    if r.problems:
        raise ConfigError(list(dict.fromkeys(r.problems)))  # a shared variable is reported once
    return settings

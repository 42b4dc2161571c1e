"""The settings of the extension, resolved once from the environment into frozen `Settings`.

Which variables exist, their defaults, parsers and meanings are declared in
`extension.variables` (the one place; the README tables are generated from it). This module
combines them into settings sections. It is the only reader of the environment after `/register`
(before it, the start-up fast path reads a few of the same declarations).

Validation collects every problem into one `ConfigError` that names each bad variable, so a user
fixing their configuration sees all mistakes at once (reported through `/extension/init/error`).
No message quotes the value of a variable marked secret (see `variables.BadValue`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from extension import variables as v
from extension.variables import BadValue


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


def _repr_hiding(record: NamedTuple, hidden: tuple[str, ...]) -> str:
    """`repr` without the fields that may carry credentials (URLs with user:password or tokens,
    headers, keys): settings get logged, secrets must not be."""
    shown = ", ".join(f"{n}={getattr(record, n)!r}" for n in record._fields if n not in hidden)
    return f"{type(record).__name__}({shown})"


# --------------------------------------------------------------------------------------------
# Settings sections
# --------------------------------------------------------------------------------------------


class FunctionInfo(NamedTuple):
    """What the platform tells us about the function (environment; refined by the register answer)."""

    name: str
    version: str
    memory_mb: int
    region: str
    initialization_type: str
    runtime_api: str


class TelemetrySettings(NamedTuple):
    enabled: bool = v.SIDECAR_TELEMETRY_ENABLED.default
    types: tuple[str, ...] = v.SIDECAR_TELEMETRY_TYPES.default
    port: int = v.SIDECAR_TELEMETRY_PORT.default
    max_items: int = v.SIDECAR_TELEMETRY_MAX_ITEMS.default
    max_bytes: int = v.SIDECAR_TELEMETRY_MAX_BYTES.default
    timeout_ms: int = v.SIDECAR_TELEMETRY_TIMEOUT_MS.default


class ReceiverSettings(NamedTuple):
    """The OTLP receiver for the function's own telemetry (extension/sources/otlp_receiver)."""

    enabled: bool = v.SIDECAR_RECEIVER_ENABLED.default
    http_port: int = v.SIDECAR_RECEIVER_HTTP_PORT.default
    grpc_port: int = v.SIDECAR_RECEIVER_GRPC_PORT.default
    max_bytes: int = v.SIDECAR_RECEIVER_MAX_BYTES.default
    emf: str = v.SIDECAR_EMF_TO_METRICS.default
    #: The function runs behind our wrapper: it is instrumented, so OTLP decoding is loaded at
    #: start, off the function's first flush.
    preload: bool = False


_DEFAULT_FLUSH_POLICY = FlushPolicy(v.SIDECAR_FLUSH_POLICY.default)


class PipelineSettings(NamedTuple):
    flush_policy: FlushPolicy = _DEFAULT_FLUSH_POLICY
    flush_interval_s: float = v.SIDECAR_FLUSH_INTERVAL_SECONDS.default
    adaptive_min_rate_per_minute: float = v.SIDECAR_ADAPTIVE_MIN_RATE.default
    export_budget_ms: int = v.SIDECAR_EXPORT_BUDGET_MS.default
    buffer_max_items: int = v.SIDECAR_BUFFER_MAX_ITEMS.default
    buffer_max_bytes: int = v.SIDECAR_BUFFER_MAX_BYTES.default


class ProcessingSettings(NamedTuple):
    spans: bool = v.SIDECAR_SPANS_ENABLED.default
    metrics: bool = v.SIDECAR_METRICS_ENABLED.default
    logs: bool = v.SIDECAR_LOGS_ENABLED.default
    log_min_level: str = v.SIDECAR_LOG_MIN_LEVEL.default.upper()
    platform_logs: bool = v.SIDECAR_PLATFORM_LOGS.default
    redact_defaults: bool = v.SIDECAR_REDACT_DEFAULTS.default
    redact_patterns: tuple[str, ...] = v.SIDECAR_REDACT_PATTERNS.default
    span_style: str = v.SIDECAR_SPAN_STYLE.default


class OtlpSignalSettings(NamedTuple):
    """Resolved OTLP settings for one signal (traces, metrics or logs)."""

    endpoint: str  # may carry user:password or a token in path or query
    protocol: str  # "http/protobuf" | "grpc"
    headers: tuple[tuple[str, str], ...]
    timeout_ms: int
    compression: str  # "gzip" | "none"
    certificate: str | None

    def __repr__(self) -> str:
        return _repr_hiding(self, ("endpoint", "headers"))


class OtlpSettings(NamedTuple):
    """Per signal; None: the signal has no endpoint of its own and there is no base endpoint, so
    it is not sent over OTLP (https://opentelemetry.io/docs/specs/otel/protocol/exporter/)."""

    traces: OtlpSignalSettings | None
    metrics: OtlpSignalSettings | None
    logs: OtlpSignalSettings | None

    def configured(self) -> dict[str, OtlpSignalSettings]:
        """The signals that have an endpoint, by OTLP signal name (traces, metrics, logs)."""
        signals = zip(v.OTLP_SIGNALS, (self.traces, self.metrics, self.logs), strict=True)
        return {name: cfg for name, cfg in signals if cfg is not None}


class HttpJsonSettings(NamedTuple):
    url: str  # may carry user:password or a token in path or query
    headers: tuple[tuple[str, str], ...] = ()
    format: str = v.SIDECAR_HTTP_JSON_FORMAT.default  # "raw" | "otel"
    compression: str = v.SIDECAR_HTTP_JSON_COMPRESSION.default
    max_batch: int = v.SIDECAR_HTTP_JSON_MAX_BATCH.default
    timeout_ms: int = v.SIDECAR_HTTP_JSON_TIMEOUT_MS.default

    def __repr__(self) -> str:
        return _repr_hiding(self, ("url", "headers"))


class StdoutSettings(NamedTuple):
    signals: tuple[str, ...] = v.SIDECAR_STDOUT_SIGNALS.default
    emf_namespace: str = v.SIDECAR_EMF_NAMESPACE.default


class FileSettings(NamedTuple):
    path: str = v.SIDECAR_FILE_PATH.default
    max_bytes: int = v.SIDECAR_FILE_MAX_BYTES.default


class RetrySettings(NamedTuple):
    initial_ms: int = v.SIDECAR_RETRY_INITIAL_MS.default
    max_ms: int = v.SIDECAR_RETRY_MAX_MS.default


class ExportersSettings(NamedTuple):
    names: tuple[str, ...]
    otlp: OtlpSettings | None
    http_json: HttpJsonSettings | None
    stdout: StdoutSettings
    file: FileSettings
    retry: RetrySettings


class PrefetchItem(NamedTuple):
    """One secret or parameter to fetch at cold start (`sm:NAME`, `ssm:NAME?withDecryption=true`)."""

    service: str  # "secretsmanager" | "ssm"
    name: str
    with_decryption: bool = False


class AppConfigTarget(NamedTuple):
    application: str
    environment: str
    profile: str


class AwsSettings(NamedTuple):
    """Credentials and endpoints for the one place that signs AWS calls (cache/aws.py). Never
    logged: `repr` hides the credentials."""

    region: str
    access_key_id: str | None
    secret_access_key: str | None
    session_token: str | None
    endpoint_url: str | None
    endpoint_secrets_manager: str | None
    endpoint_ssm: str | None
    endpoint_appconfigdata: str | None
    endpoint_sts: str | None = None
    #: Container credentials provider (SnapStart functions get credentials here, not in env vars);
    #: GET with `Authorization: <container_authorization_token>`. Used when no static keys are set.
    container_credentials_uri: str | None = None
    container_authorization_token: str | None = None

    def __repr__(self) -> str:
        return _repr_hiding(
            self,
            (
                "access_key_id",
                "secret_access_key",
                "session_token",
                "endpoint_url",
                "endpoint_secrets_manager",
                "endpoint_ssm",
                "endpoint_appconfigdata",
                "endpoint_sts",
                "container_credentials_uri",
                "container_authorization_token",
            ),
        )


class AssumedRole(NamedTuple):
    """The role AppConfig is read with (STS AssumeRole), as the AWS AppConfig agent does for
    another account (https://docs.aws.amazon.com/appconfig/latest/userguide/
    appconfig-integration-lambda-extensions-config.html)."""

    arn: str
    session_name: str
    external_id: str | None = None

    def __repr__(self) -> str:
        return _repr_hiding(self, ("external_id",))


class CacheSettings(NamedTuple):
    enabled: bool = v.PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED.default
    secrets_port_enabled: bool = v.SIDECAR_SECRETS_PORT_ENABLED.default
    secrets_port: int = v.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT.default
    appconfig_port_enabled: bool = v.SIDECAR_APPCONFIG_PORT_ENABLED.default
    appconfig_port: int = v.AWS_APPCONFIG_EXTENSION_HTTP_PORT.default
    appconfig_require_token: bool = v.SIDECAR_APPCONFIG_REQUIRE_TOKEN.default
    token: str | None = None
    max_items: int = v.PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE.default
    max_bytes: int = v.SIDECAR_CACHE_MAX_BYTES.default
    max_connections: int = v.PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS.default
    secrets_ttl_s: float = v.SECRETS_MANAGER_TTL.default
    ssm_ttl_s: float = v.SSM_PARAMETER_STORE_TTL.default
    secrets_timeout_ms: int = v.UPSTREAM_TIMEOUT_FOR_ZERO_MS
    ssm_timeout_ms: int = v.UPSTREAM_TIMEOUT_FOR_ZERO_MS
    max_stale_s: float = v.SIDECAR_MAX_STALE_SECONDS.default
    refresh_ahead_fraction: float = v.SIDECAR_REFRESH_AHEAD_FRACTION.default
    negative_ttl_s: float = v.SIDECAR_NEGATIVE_TTL_SECONDS.default
    prefetch: tuple[PrefetchItem, ...] = ()
    appconfig_prefetch: tuple[AppConfigTarget, ...] = ()
    appconfig_poll_interval_s: float = v.AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS.default
    appconfig_poll_timeout_ms: int = round(v.AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS.default * 1000)
    appconfig_max_connections: int = v.AWS_APPCONFIG_EXTENSION_MAX_CONNECTIONS.default
    appconfig_region: str | None = None
    #: AWS_APPCONFIG_EXTENSION_ROLE_*: AppConfig is read with this role's credentials only.
    appconfig_role: AssumedRole | None = None
    #: AWS_APPCONFIG_EXTENSION_PROXY_URL / _PROXY_HEADERS: the AppConfig calls' own proxy.
    appconfig_proxy: tuple[str, int] | None = None
    appconfig_proxy_headers: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return _repr_hiding(self, ("token", "appconfig_proxy", "appconfig_proxy_headers"))


class ProxySettings(NamedTuple):
    """Outbound proxies as (host, port) (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`); loopback
    destinations never use them (extension/http/proxy.py)."""

    https: tuple[str, int] | None = None
    http: tuple[str, int] | None = None
    no_proxy: tuple[str, ...] = ()


class Settings(NamedTuple):
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
    warnings: tuple[str, ...] = ()
    receiver: ReceiverSettings = ReceiverSettings()
    proxy: ProxySettings = ProxySettings()


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _Gettable(Protocol[T_co]):
    """A declared variable of value type T_co (`variables.Flag` is a `_Gettable[bool]`, ...)."""

    @property
    def default(self) -> T_co: ...
    def get(self, env: Mapping[str, str]) -> T_co: ...


class _Reader:
    """Reads declared variables, recording a problem (and using the default) instead of raising,
    so every problem surfaces at once."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def __call__(self, get: Callable[[Mapping[str, str]], T], default: T) -> T:
        try:
            return get(self.env)
        except BadValue as exc:
            self.problems.append(str(exc))
            return default

    def misspellings(self) -> list[str]:
        return [
            f"{alias} is a misspelling of {variable.name}; honoured"
            for variable in v.declared()
            for alias in variable.aliases
            if alias in self.env
        ]


def _read(r: _Reader, variable: _Gettable[T]) -> T:
    return r(variable.get, variable.default)


_SIGNAL_PATHS = {"traces": "v1/traces", "metrics": "v1/metrics", "logs": "v1/logs"}


def signal_endpoint(per_signal: str, base: str, protocol: str, signal: str) -> str | None:
    """The URL one signal is sent to, as the OTLP exporter specification constructs it
    (https://opentelemetry.io/docs/specs/otel/protocol/exporter/#endpoint-urls-for-otlphttp):
    a per-signal endpoint is used as-is (only an empty path becomes `/`); otherwise the base
    endpoint with `v1/<signal>` appended to its path for http/protobuf, as-is for gRPC (a gRPC
    target has no path); None when neither is set (the signal is not sent over OTLP: unlike the
    specification, no default `localhost` collector is assumed inside a Lambda sandbox)."""
    if per_signal:
        if protocol == "grpc":
            return per_signal
        parts = urlsplit(per_signal)
        return per_signal if parts.path else urlunsplit(parts._replace(path="/"))
    if not base:
        return None
    if protocol == "grpc":
        return base
    parts = urlsplit(base)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit(parts._replace(path=path + _SIGNAL_PATHS[signal]))


def _otlp_signal(r: _Reader, signal: str) -> OtlpSignalSettings | None:
    options = v.OTLP_PER_SIGNAL[signal]
    protocol = _read(r, options.protocol)
    endpoint = signal_endpoint(
        _read(r, options.endpoint), _read(r, v.OTEL_EXPORTER_OTLP_ENDPOINT), protocol, signal
    )
    if endpoint is None:
        return None
    return OtlpSignalSettings(
        endpoint=endpoint,
        protocol=protocol,
        headers=_read(r, options.headers),
        timeout_ms=_read(r, options.timeout),
        compression=_read(r, options.compression),
        certificate=_read(r, options.certificate) or None,
    )


_OTLP_KIND = {"traces": "spans", "metrics": "metrics", "logs": "logs"}


def _exporters(r: _Reader, processing: ProcessingSettings) -> ExportersSettings:
    per_signal = {signal: _otlp_signal(r, signal) for signal in v.OTLP_SIGNALS}
    otlp = OtlpSettings(**per_signal) if any(per_signal.values()) else None
    default_names: tuple[str, ...] = ("otlp",) if otlp else ("stdout",)
    names = _read(r, v.SIDECAR_EXPORTERS) if v.SIDECAR_EXPORTERS.is_set(r.env) else default_names
    endpoint_names = f"{v.OTEL_EXPORTER_OTLP_ENDPOINT.name} or OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT"
    if "otlp" in names and otlp is None:
        r.problems.append(f"{v.SIDECAR_EXPORTERS.name} includes otlp but neither {endpoint_names} is set")
    if "otlp" in names and otlp is not None:
        wanted = {"spans": processing.spans, "metrics": processing.metrics, "logs": processing.logs}
        missing = [s for s, cfg in per_signal.items() if cfg is None and wanted[_OTLP_KIND[s]]]
        if missing:
            r.warnings.append(
                f"OTLP: no endpoint for {', '.join(missing)} (neither {endpoint_names} is set): "
                f"{'that signal is' if len(missing) == 1 else 'those signals are'} not sent over OTLP"
            )
    http_json: HttpJsonSettings | None = None
    url = _read(r, v.SIDECAR_HTTP_JSON_URL)
    if url:
        http_json = HttpJsonSettings(
            url=url,
            headers=_read(r, v.SIDECAR_HTTP_JSON_HEADERS),
            format=_read(r, v.SIDECAR_HTTP_JSON_FORMAT),
            compression=_read(r, v.SIDECAR_HTTP_JSON_COMPRESSION),
            max_batch=_read(r, v.SIDECAR_HTTP_JSON_MAX_BATCH),
            timeout_ms=_read(r, v.SIDECAR_HTTP_JSON_TIMEOUT_MS),
        )
    elif "http_json" in names and not v.SIDECAR_HTTP_JSON_URL.is_set(r.env):
        r.problems.append(
            f"{v.SIDECAR_EXPORTERS.name} includes http_json but {v.SIDECAR_HTTP_JSON_URL.name} is not set"
        )
    return ExportersSettings(
        names=names,
        otlp=otlp,
        http_json=http_json,
        stdout=StdoutSettings(_read(r, v.SIDECAR_STDOUT_SIGNALS), _read(r, v.SIDECAR_EMF_NAMESPACE)),
        file=FileSettings(_read(r, v.SIDECAR_FILE_PATH), _read(r, v.SIDECAR_FILE_MAX_BYTES)),
        retry=RetrySettings(_read(r, v.SIDECAR_RETRY_INITIAL_MS), _read(r, v.SIDECAR_RETRY_MAX_MS)),
    )


def _upstream_timeout_ms(r: _Reader, variable: v.Integer) -> int:
    return _read(r, variable) or v.UPSTREAM_TIMEOUT_FOR_ZERO_MS


def _assumed_role(r: _Reader) -> AssumedRole | None:
    arn = _read(r, v.AWS_APPCONFIG_EXTENSION_ROLE_ARN)
    if not arn:
        return None
    # RoleSessionName: 2-64 of [\w+=,.@-]; the AppConfig agent defaults it to the function name.
    name = _read(r, v.AWS_APPCONFIG_EXTENSION_ROLE_SESSION_NAME) or _read(r, v.AWS_LAMBDA_FUNCTION_NAME)
    name = "".join(c if c.isalnum() or c in "_+=,.@-" else "-" for c in name)[:64] or "lambda-sidecar"
    external = _read(r, v.AWS_APPCONFIG_EXTENSION_ROLE_EXTERNAL_ID) or None
    return AssumedRole(arn, name if len(name) >= 2 else f"{name}-", external)


def _cache(r: _Reader, warnings: list[str]) -> CacheSettings:
    return CacheSettings(
        enabled=_read(r, v.PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED),
        secrets_port_enabled=_read(r, v.SIDECAR_SECRETS_PORT_ENABLED),
        secrets_port=_read(r, v.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT),
        appconfig_port_enabled=_read(r, v.SIDECAR_APPCONFIG_PORT_ENABLED),
        appconfig_port=_read(r, v.AWS_APPCONFIG_EXTENSION_HTTP_PORT),
        appconfig_require_token=_read(r, v.SIDECAR_APPCONFIG_REQUIRE_TOKEN),
        token=_read(r, v.AWS_TOKEN) or None,
        max_items=_read(r, v.PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE),
        max_bytes=_read(r, v.SIDECAR_CACHE_MAX_BYTES),
        max_connections=_read(r, v.PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS),
        secrets_ttl_s=_read(r, v.SECRETS_MANAGER_TTL),
        ssm_ttl_s=_read(r, v.SSM_PARAMETER_STORE_TTL),
        secrets_timeout_ms=_upstream_timeout_ms(r, v.SECRETS_MANAGER_TIMEOUT_MILLIS),
        ssm_timeout_ms=_upstream_timeout_ms(r, v.SSM_PARAMETER_STORE_TIMEOUT_MILLIS),
        max_stale_s=_read(r, v.SIDECAR_MAX_STALE_SECONDS),
        refresh_ahead_fraction=_read(r, v.SIDECAR_REFRESH_AHEAD_FRACTION),
        negative_ttl_s=_read(r, v.SIDECAR_NEGATIVE_TTL_SECONDS),
        prefetch=tuple(PrefetchItem(*item) for item in _read(r, v.SIDECAR_PREFETCH)),
        appconfig_prefetch=tuple(
            AppConfigTarget(*target) for target in _read(r, v.AWS_APPCONFIG_EXTENSION_PREFETCH_LIST)
        ),
        appconfig_poll_interval_s=_read(r, v.AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS),
        appconfig_poll_timeout_ms=round(_read(r, v.AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS) * 1000),
        appconfig_max_connections=_read(r, v.AWS_APPCONFIG_EXTENSION_MAX_CONNECTIONS),
        appconfig_region=_read(r, v.AWS_APPCONFIG_EXTENSION_SERVICE_REGION),
        appconfig_role=_assumed_role(r),
        appconfig_proxy=_read(r, v.AWS_APPCONFIG_EXTENSION_PROXY_URL),
        appconfig_proxy_headers=_read(r, v.AWS_APPCONFIG_EXTENSION_PROXY_HEADERS),
        warnings=tuple(warnings),
    )


#: The layer's AWS_LAMBDA_EXEC_WRAPPER for instrumented functions (layer/instrument).
WRAPPER_SUFFIX = "/lambda-sidecar/instrument"
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "0.0.0.0", "::1", "::", "[::1]"})


def _exports_to_receiver(exporters: ExportersSettings, receiver: ReceiverSettings) -> list[str]:
    """One environment, two readers: Lambda gives the function and the extension the same
    variables, so an `OTEL_EXPORTER_OTLP_*ENDPOINT` meant for the function's SDK ("send to the
    local collector") would make us export to our own receiver, a loop. Refused at init, naming
    the variables (README "Instrumented functions" has the settings that work)."""
    otlp = exporters.otlp
    if otlp is None:
        return []
    problems: list[str] = []
    for signal, cfg in otlp.configured().items():
        try:
            parts = urlsplit(cfg.endpoint)
            host, port = (parts.hostname or "").lower(), parts.port
        except ValueError:
            continue
        if port is None:
            port = 443 if parts.scheme == "https" else 80
        ports = {
            receiver.http_port: "SIDECAR_RECEIVER_HTTP_PORT",
            receiver.grpc_port: "SIDECAR_RECEIVER_GRPC_PORT",
        }
        if host in _LOOPBACK_NAMES and port in ports:
            problems.append(
                f"the {signal} exporter (OTEL_EXPORTER_OTLP_ENDPOINT or "
                f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT) points at this extension's own OTLP "
                f"receiver ({host}:{port}, {ports[port]}): set the endpoint of your "
                "backend there, and let the function reach the receiver through the layer's "
                "AWS_LAMBDA_EXEC_WRAPPER (or set SIDECAR_RECEIVER_ENABLED=false)"
            )
    return problems


def from_env(env: Mapping[str, str]) -> Settings:
    """Resolve every setting from `env` (normally `os.environ`); ConfigError names each bad variable."""
    r = _Reader(env)
    region = _read(r, v.AWS_REGION)
    function = FunctionInfo(
        name=_read(r, v.AWS_LAMBDA_FUNCTION_NAME),
        version=_read(r, v.AWS_LAMBDA_FUNCTION_VERSION),
        memory_mb=_read(r, v.AWS_LAMBDA_FUNCTION_MEMORY_SIZE),
        region=region,
        initialization_type=_read(r, v.AWS_LAMBDA_INITIALIZATION_TYPE),
        runtime_api=_read(r, v.AWS_LAMBDA_RUNTIME_API),
    )
    telemetry = TelemetrySettings(
        enabled=_read(r, v.SIDECAR_TELEMETRY_ENABLED),
        types=_read(r, v.SIDECAR_TELEMETRY_TYPES),
        port=_read(r, v.SIDECAR_TELEMETRY_PORT),
        max_items=_read(r, v.SIDECAR_TELEMETRY_MAX_ITEMS),
        max_bytes=_read(r, v.SIDECAR_TELEMETRY_MAX_BYTES),
        timeout_ms=_read(r, v.SIDECAR_TELEMETRY_TIMEOUT_MS),
    )
    pipeline = PipelineSettings(
        flush_policy=FlushPolicy(_read(r, v.SIDECAR_FLUSH_POLICY)),
        flush_interval_s=_read(r, v.SIDECAR_FLUSH_INTERVAL_SECONDS),
        adaptive_min_rate_per_minute=_read(r, v.SIDECAR_ADAPTIVE_MIN_RATE),
        export_budget_ms=_read(r, v.SIDECAR_EXPORT_BUDGET_MS),
        buffer_max_items=_read(r, v.SIDECAR_BUFFER_MAX_ITEMS),
        buffer_max_bytes=_read(r, v.SIDECAR_BUFFER_MAX_BYTES),
    )
    processing = ProcessingSettings(
        spans=_read(r, v.SIDECAR_SPANS_ENABLED),
        metrics=_read(r, v.SIDECAR_METRICS_ENABLED),
        logs=_read(r, v.SIDECAR_LOGS_ENABLED),
        log_min_level=_read(r, v.SIDECAR_LOG_MIN_LEVEL).upper(),
        platform_logs=_read(r, v.SIDECAR_PLATFORM_LOGS),
        redact_defaults=_read(r, v.SIDECAR_REDACT_DEFAULTS),
        redact_patterns=_read(r, v.SIDECAR_REDACT_PATTERNS),
        span_style=_read(r, v.SIDECAR_SPAN_STYLE),
    )
    aws = AwsSettings(
        region=region,
        access_key_id=_read(r, v.AWS_ACCESS_KEY_ID) or None,
        secret_access_key=_read(r, v.AWS_SECRET_ACCESS_KEY) or None,
        session_token=_read(r, v.AWS_SESSION_TOKEN) or None,
        endpoint_url=_read(r, v.AWS_ENDPOINT_URL) or None,
        endpoint_secrets_manager=_read(r, v.AWS_ENDPOINT_URL_SECRETS_MANAGER) or None,
        endpoint_ssm=_read(r, v.AWS_ENDPOINT_URL_SSM) or None,
        endpoint_appconfigdata=_read(r, v.AWS_ENDPOINT_URL_APPCONFIGDATA) or None,
        endpoint_sts=_read(r, v.AWS_ENDPOINT_URL_STS) or None,
        container_credentials_uri=_read(r, v.AWS_CONTAINER_CREDENTIALS_FULL_URI) or None,
        container_authorization_token=_read(r, v.AWS_CONTAINER_AUTHORIZATION_TOKEN) or None,
    )
    exporters = _exporters(r, processing)
    receiver = ReceiverSettings(
        enabled=_read(r, v.SIDECAR_RECEIVER_ENABLED),
        http_port=_read(r, v.SIDECAR_RECEIVER_HTTP_PORT),
        grpc_port=_read(r, v.SIDECAR_RECEIVER_GRPC_PORT),
        max_bytes=_read(r, v.SIDECAR_RECEIVER_MAX_BYTES),
        emf=_read(r, v.SIDECAR_EMF_TO_METRICS),
        preload=_read(r, v.AWS_LAMBDA_EXEC_WRAPPER).endswith(WRAPPER_SUFFIX),
    )
    if receiver.enabled and "otlp" in exporters.names:
        r.problems.extend(_exports_to_receiver(exporters, receiver))
    cache = _cache(r, r.misspellings())
    settings = Settings(
        function=function,
        disabled=_read(r, v.SIDECAR_DISABLED),
        log_level=_read(r, v.SIDECAR_LOG_LEVEL),
        service_name=_read(r, v.OTEL_SERVICE_NAME) or function.name,
        resource_attributes=_read(r, v.OTEL_RESOURCE_ATTRIBUTES),
        telemetry=telemetry,
        pipeline=pipeline,
        processing=processing,
        exporters=exporters,
        cache=cache,
        aws=aws,
        warnings=tuple(r.warnings),
        receiver=receiver,
        proxy=ProxySettings(
            https=_read(r, v.HTTPS_PROXY),
            http=_read(r, v.HTTP_PROXY),
            no_proxy=tuple(e.strip().lower() for e in _read(r, v.NO_PROXY).split(",") if e.strip()),
        ),
    )
    for variable in v.declared():  # a bad value is reported even where it is not used (yet)
        if not variable.read_by:
            r(variable.get, None)
    if r.problems:
        raise ConfigError(list(dict.fromkeys(r.problems)))  # a shared variable is reported once
    return settings

"""Configuration: defaults, precedence, and one error naming every bad variable."""

from __future__ import annotations

import pytest

from extension import config
from extension.config import ConfigError, FlushPolicy, from_env


def test_defaults_without_any_variable() -> None:
    s = from_env({})
    assert s.exporters.names == ("stdout",)  # nothing to send OTLP to: EMF on stdout
    assert s.exporters.otlp is None
    assert s.pipeline.flush_policy is FlushPolicy.ADAPTIVE
    assert s.cache.secrets_port == 2773 and s.cache.appconfig_port == 2772
    assert s.cache.secrets_ttl_s == 300.0 and s.cache.secrets_timeout_ms == 3000
    assert s.telemetry.types == ("platform", "function", "extension")
    assert s.service_name == "unknown-function"


def test_otlp_endpoint_enables_otlp_with_signal_paths_and_gzip() -> None:
    s = from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/", "AWS_LAMBDA_FUNCTION_NAME": "orders"}
    )
    assert s.exporters.names == ("otlp",)
    assert s.exporters.otlp is not None
    assert s.exporters.otlp.traces.endpoint == "http://collector:4318/v1/traces"
    assert s.exporters.otlp.logs.endpoint == "http://collector:4318/v1/logs"
    assert s.exporters.otlp.metrics.compression == "gzip"
    assert s.service_name == "orders"


def test_per_signal_variables_win_over_general_ones() -> None:
    s = from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4317",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-key=abc%3D,team=core",
            "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "2500",
        }
    )
    otlp = s.exporters.otlp
    assert otlp is not None
    assert otlp.traces.endpoint == "http://b:4317" and otlp.traces.protocol == "grpc"
    assert otlp.metrics.endpoint == "http://a:4318/v1/metrics" and otlp.metrics.protocol == "http/protobuf"
    assert otlp.traces.headers == (("x-key", "abc="), ("team", "core"))
    assert otlp.logs.timeout_ms == 2500 and otlp.traces.timeout_ms == 10000


def test_all_problems_reported_at_once_naming_each_variable() -> None:
    with pytest.raises(ConfigError) as err:
        from_env(
            {
                "SIDECAR_FLUSH_POLICY": "sometimes",
                "SECRETS_MANAGER_TTL": "99999",
                "SIDECAR_EXPORTERS": "otlp,carrier-pigeon",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318",
            }
        )
    text = str(err.value)
    for name in (
        "SIDECAR_FLUSH_POLICY",
        "SECRETS_MANAGER_TTL",
        "SIDECAR_EXPORTERS",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ):
        assert name in text
    assert len(err.value.problems) == 4


def test_otlp_selected_without_endpoint_is_an_error() -> None:
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_ENDPOINT"):
        from_env({"SIDECAR_EXPORTERS": "otlp"})


def test_otel_exporter_none_disables_signal() -> None:
    s = from_env({"OTEL_TRACES_EXPORTER": "none"})
    assert not s.processing.spans and s.processing.metrics and s.processing.logs


def test_cache_token_order_and_misspelled_prefix() -> None:
    s = from_env(
        {
            "AWS_SESSION_TOKEN": "session",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container",
            "PARAMETERS_AND_SECRETS_EXTENSION_HTTP_PORT": "3000",
        }
    )
    assert s.cache.token == "session"
    assert s.cache.secrets_port == 3000
    assert any("misspelling" in w for w in s.cache.warnings)
    assert from_env({"AWS_CONTAINER_AUTHORIZATION_TOKEN": "c"}).cache.token == "c"


def test_timeout_zero_means_bounded_default() -> None:
    assert from_env({"SECRETS_MANAGER_TIMEOUT_MILLIS": "0"}).cache.secrets_timeout_ms == 3000
    assert from_env({"SSM_PARAMETER_STORE_TIMEOUT_MILLIS": "750"}).cache.ssm_timeout_ms == 750


@pytest.mark.parametrize(
    ("value", "seconds"), [("45", 45.0), ("90s", 90.0), ("5m", 300.0), ("1h", 3600.0), ("1500ms", 1.5)]
)
def test_appconfig_durations(value: str, seconds: float) -> None:
    assert (
        from_env({"AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS": value}).cache.appconfig_poll_interval_s
        == seconds
    )


def test_prefetch_lists() -> None:
    s = from_env(
        {
            "SIDECAR_PREFETCH": "sm:db/creds, ssm:/app/key?withDecryption=true",
            "AWS_APPCONFIG_EXTENSION_PREFETCH_LIST": "/applications/app/environments/prod/configurations/flags,a:e:c",
        }
    )
    assert s.cache.prefetch == (
        config.PrefetchItem("secretsmanager", "db/creds"),
        config.PrefetchItem("ssm", "/app/key", True),
    )
    assert [t.profile for t in s.cache.appconfig_prefetch] == ["flags", "c"]
    with pytest.raises(ConfigError, match="SIDECAR_PREFETCH"):
        from_env({"SIDECAR_PREFETCH": "vault:x"})


def test_redaction_patterns_validated() -> None:
    assert from_env({"SIDECAR_REDACT_PATTERNS": '["card=\\\\d+", "pin"]'}).processing.redact_patterns == (
        "card=\\d+",
        "pin",
    )
    with pytest.raises(ConfigError, match="SIDECAR_REDACT_PATTERNS"):
        from_env({"SIDECAR_REDACT_PATTERNS": "(unclosed"})


# ---- per-signal OTLP endpoints (https://opentelemetry.io/docs/specs/otel/protocol/exporter/) ----

SIGNALS = ("traces", "metrics", "logs")


def _endpoints(env: dict[str, str]) -> dict[str, str | None]:
    otlp = from_env(env).exporters.otlp
    if otlp is None:
        return dict.fromkeys(SIGNALS)
    return {s: (cfg.endpoint if (cfg := getattr(otlp, s)) else None) for s in SIGNALS}


def test_spec_example_1_one_base_endpoint_for_all_signals() -> None:
    assert _endpoints({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) == {
        "traces": "http://collector:4318/v1/traces",
        "metrics": "http://collector:4318/v1/metrics",
        "logs": "http://collector:4318/v1/logs",
    }


def test_spec_example_2_per_signal_endpoints_only_for_their_signal() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://collector.example.com/v1/metrics",
    }
    # the spec sends logs to its default localhost; inside Lambda we do not send them at all
    assert _endpoints(env) == {
        "traces": "http://collector:4318/",
        "metrics": "https://collector.example.com/v1/metrics",
        "logs": None,
    }


def test_spec_example_3_base_with_a_path_and_one_override() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/mycollector/",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://collector.example.com/v1/metrics/",
    }
    assert _endpoints(env) == {
        "traces": "http://collector:4318/mycollector/v1/traces",
        "metrics": "https://collector.example.com/v1/metrics/",
        "logs": "http://collector:4318/mycollector/v1/logs",
    }


def test_issue_12_only_a_traces_endpoint_sends_nothing_else_and_says_so_once() -> None:
    s = from_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://x/v1/traces"})
    assert s.exporters.names == ("otlp",)
    assert s.exporters.otlp is not None
    assert s.exporters.otlp.traces is not None and s.exporters.otlp.traces.endpoint == "https://x/v1/traces"
    assert s.exporters.otlp.metrics is None and s.exporters.otlp.logs is None
    notes = [w for w in s.warnings if "OTLP" in w]
    assert len(notes) == 1 and "metrics, logs" in notes[0] and "not sent over OTLP" in notes[0]
    # a signal switched off needs no endpoint, and nothing is said about it
    quiet = from_env(
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://x/v1/traces",
            "SIDECAR_METRICS_ENABLED": "false",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    assert not [w for w in quiet.warnings if "OTLP" in w]


def test_the_otlp_exporter_accepts_only_signals_with_an_endpoint() -> None:
    from extension.exporters.base import KIND_LOGS, KIND_METRICS, KIND_SPANS
    from extension.exporters.otlp import OtlpExporter

    def accepts(env: dict[str, str]) -> frozenset[str]:
        otlp = from_env(env).exporters.otlp
        assert otlp is not None
        return OtlpExporter(otlp).accepts

    assert accepts({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://x/v1/traces"}) == {KIND_SPANS}
    assert accepts(
        {
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "https://x/l",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://x/m",
        }
    ) == {KIND_LOGS, KIND_METRICS}
    assert accepts({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://x"}) == {KIND_SPANS, KIND_LOGS, KIND_METRICS}


BASES = (
    None,
    "http://c:4318",
    "http://c:4318/",
    "https://c.example.com/my/path",
    "https://c.example.com/my/path/",
)
PER_SIGNAL = (
    None,
    "http://t:4318/v1/traces",
    "http://t:4318",
    "https://t.example.com/custom/",
    "https://t.example.com/x?y=1",
)


def _expected(per_signal: str | None, base: str | None, protocol: str, signal: str) -> str | None:
    """The specification's rule, written as its non-normative note puts it (string operations)."""
    if per_signal is not None:
        if protocol == "grpc":
            return per_signal
        return per_signal if "/" in per_signal.split("://", 1)[1] else per_signal + "/"
    if base is None:
        return None
    if protocol == "grpc":
        return base
    return (base if base.endswith("/") else base + "/") + f"v1/{signal}"


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("traces", PER_SIGNAL)
@pytest.mark.parametrize("logs", PER_SIGNAL[:3])
def test_every_combination_of_base_and_per_signal_endpoints(
    protocol: str, base: str | None, traces: str | None, logs: str | None
) -> None:
    env = {"OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
    for name, value in [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", base),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", logs),
    ]:
        if value is not None:
            env[name] = value
    given = {"traces": traces, "metrics": None, "logs": logs}
    expected = {s: _expected(given[s], base, protocol, s) for s in SIGNALS}
    if not any(expected.values()):
        assert from_env(env).exporters.otlp is None
        return
    assert _endpoints(env) == expected


def test_per_signal_protocol_decides_whether_paths_are_appended() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/protobuf",
    }
    assert _endpoints(env) == {
        "traces": "http://c:4317",
        "metrics": "http://c:4317",
        "logs": "http://c:4317/v1/logs",
    }


@pytest.mark.parametrize("signal", SIGNALS)
def test_every_per_signal_option_overrides_the_base_for_that_signal_only(signal: str) -> None:
    up = signal.upper()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
        "OTEL_EXPORTER_OTLP_HEADERS": "a=base",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": "/base.pem",
        f"OTEL_EXPORTER_OTLP_{up}_PROTOCOL": "grpc",
        f"OTEL_EXPORTER_OTLP_{up}_HEADERS": "a=own",
        f"OTEL_EXPORTER_OTLP_{up}_TIMEOUT": "2000",
        f"OTEL_EXPORTER_OTLP_{up}_COMPRESSION": "none",
        f"OTEL_EXPORTER_OTLP_{up}_CERTIFICATE": "/own.pem",
    }
    otlp = from_env(env).exporters.otlp
    assert otlp is not None
    for other in SIGNALS:
        cfg = getattr(otlp, other)
        own = other == signal
        assert cfg.protocol == ("grpc" if own else "http/protobuf")
        assert cfg.headers == (("a", "own" if own else "base"),)
        assert cfg.timeout_ms == (2000 if own else 1000)
        assert cfg.compression == ("none" if own else "gzip")
        assert cfg.certificate == ("/own.pem" if own else "/base.pem")


# ---- no secret in a configuration error (issue 18) ---------------------------------------------

SECRET = "sk_live_51HxQpLkT0pS3cr3t"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={SECRET},dd-site"}, "OTEL_EXPORTER_OTLP_HEADERS"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c", "OTEL_EXPORTER_OTLP_METRICS_HEADERS": f"{SECRET}"},
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        ),
        (
            {
                "SIDECAR_HTTP_JSON_URL": "https://c/ingest",
                "SIDECAR_HTTP_JSON_HEADERS": f"Authorization=Bearer {SECRET},x",
            },
            "SIDECAR_HTTP_JSON_HEADERS",
        ),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": f"collector:{SECRET}@c:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"grpc://user:{SECRET}@c:4317"},
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ),
        ({"SIDECAR_HTTP_JSON_URL": f"https://hooks.example.com/{SECRET} /x"}, "SIDECAR_HTTP_JSON_URL"),
        ({"SIDECAR_REDACT_PATTERNS": f"({SECRET}"}, "SIDECAR_REDACT_PATTERNS"),
    ],
)
def test_a_configuration_error_names_the_variable_but_never_shows_a_secret(
    env: dict[str, str], named: str
) -> None:
    env = {
        **env,
        "AWS_SECRET_ACCESS_KEY": SECRET + "A",
        "AWS_SESSION_TOKEN": SECRET + "B",
        "SIDECAR_FLUSH_POLICY": "whenever",
    }
    with pytest.raises(ConfigError) as err:
        from_env(env)
    text = str(err.value)
    assert named in text and SECRET not in text
    assert "SIDECAR_FLUSH_POLICY='whenever'" in text  # a value that cannot be secret is still shown
    assert repr(err.value.problems).count(SECRET) == 0


def test_settings_repr_hides_credentials_and_headers() -> None:
    s = from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": f"https://u:{SECRET}0@c", "OTEL_EXPORTER_OTLP_HEADERS": f"k={SECRET}1",
                  "AWS_SECRET_ACCESS_KEY": f"{SECRET}2", "AWS_ACCESS_KEY_ID": f"{SECRET}3", "AWS_SESSION_TOKEN": f"{SECRET}4",
                  "AWS_CONTAINER_AUTHORIZATION_TOKEN": f"{SECRET}5", "SIDECAR_HTTP_JSON_URL": f"https://j/{SECRET}7", "SIDECAR_HTTP_JSON_HEADERS": f"k={SECRET}6",
                  "AWS_ENDPOINT_URL": f"http://u:{SECRET}8@moto", "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://169.254.170.23/{SECRET}9"})  # fmt: skip
    assert SECRET not in repr(s)


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9999", "SIDECAR_RECEIVER_HTTP_PORT": "9999"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
    ],
)
def test_exporting_to_our_own_receiver_is_refused_naming_the_variables(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as err:
        from_env(env)
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in str(err.value)
    assert "SIDECAR_RECEIVER_" in str(err.value)


def test_receiver_defaults_and_loops_allowed_when_it_is_off_or_elsewhere() -> None:
    settings = from_env({})
    assert (settings.receiver.enabled, settings.receiver.http_port) == (True, 4318)
    off = from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318", "SIDECAR_RECEIVER_ENABLED": "false"}
    )
    assert off.receiver.enabled is False
    elsewhere = from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.internal:4318"})
    assert elsewhere.exporters.otlp is not None


def test_decoding_is_preloaded_only_behind_our_wrapper() -> None:
    assert from_env({"AWS_LAMBDA_EXEC_WRAPPER": "/opt/lambda-sidecar/instrument"}).receiver.preload is True
    assert from_env({"AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-instrument"}).receiver.preload is False
    assert from_env({}).receiver.preload is False

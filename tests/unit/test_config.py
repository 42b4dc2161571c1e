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

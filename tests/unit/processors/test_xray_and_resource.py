"""X-Ray header mapping (https://docs.aws.amazon.com/lambda/latest/dg/telemetry-otel-spans.html) and the
resource attributes."""

from __future__ import annotations

from extension.processors.resource import build_resource
from extension.processors.xray import derived_id, parse_xray_header, span_id_from_hex
from tests.unit.processors.helpers import settings


def test_xray_header_to_ids() -> None:
    ctx = parse_xray_header("Root=1-6352a70e-1e2c502e358361800241fd45;Parent=35465b3a9e2f7c6a;Sampled=1")
    assert ctx is not None
    assert ctx.trace_id.hex() == "6352a70e1e2c502e358361800241fd45"
    assert ctx.parent_span_id is not None and ctx.parent_span_id.hex() == "35465b3a9e2f7c6a"
    assert ctx.sampled is True


def test_xray_header_variants() -> None:
    lineage = parse_xray_header("Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:0;Sampled=0")
    assert lineage is not None and lineage.parent_span_id is None and lineage.sampled is False
    undecided = parse_xray_header(" Root=1-5759e988-bd862e3fe1be46a994272793 ; Sampled=?")
    assert undecided is not None and undecided.sampled is None
    assert parse_xray_header(None) is None
    assert parse_xray_header("Parent=35465b3a9e2f7c6a") is None
    assert parse_xray_header("Root=2-5759e988-bd862e3fe1be46a994272793") is None
    assert parse_xray_header("Root=1-zzzzzzzz-bd862e3fe1be46a994272793") is None
    assert parse_xray_header("Root=1-00000000-000000000000000000000000") is None
    bad_parent = parse_xray_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=xyz")
    assert bad_parent is not None and bad_parent.parent_span_id is None


def test_span_id_and_derived_ids() -> None:
    assert span_id_from_hex("24cd7d670fa455f0") == bytes.fromhex("24cd7d670fa455f0")
    assert span_id_from_hex("24cd") is None and span_id_from_hex(None) is None
    a = derived_id("req-1", 16, b"t")
    assert len(a) == 16 and a == derived_id("req-1", 16, b"t") and a != derived_id("req-2", 16, b"t")
    assert derived_id("req-1", 16, b"u") != a


def test_resource_attributes() -> None:
    s = settings(
        AWS_REGION="eu-west-1",
        AWS_LAMBDA_FUNCTION_VERSION="7",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=prod,faas.version=override",
    )
    attrs = build_resource(s, "123456789012", "2026/03/01/[7]abc").attributes
    assert attrs["service.name"] == "orders-api" and attrs["faas.name"] == "orders-api"
    assert attrs["faas.version"] == "override"  # OTEL_RESOURCE_ATTRIBUTES wins over detection
    assert attrs["faas.max_memory"] == 512 * 1024 * 1024
    assert attrs["faas.instance"] == "2026/03/01/[7]abc"
    assert (attrs["cloud.provider"], attrs["cloud.platform"], attrs["cloud.region"]) == (
        "aws",
        "aws_lambda",
        "eu-west-1",
    )
    assert attrs["cloud.account.id"] == "123456789012"
    assert attrs["telemetry.sdk.name"] == "lambda-sidecar"
    assert attrs["deployment.environment"] == "prod"


def test_service_name_precedence() -> None:
    assert (
        build_resource(settings(OTEL_SERVICE_NAME="checkout"), None).attributes["service.name"] == "checkout"
    )
    from_pairs = build_resource(settings(OTEL_RESOURCE_ATTRIBUTES="service.name=billing"), None).attributes
    assert from_pairs["service.name"] == "billing"
    both = settings(OTEL_SERVICE_NAME="checkout", OTEL_RESOURCE_ATTRIBUTES="service.name=billing")
    assert build_resource(both, None).attributes["service.name"] == "checkout"
    bare = build_resource(settings(), None).attributes
    assert "cloud.account.id" not in bare and "faas.instance" not in bare

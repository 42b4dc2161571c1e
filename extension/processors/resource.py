"""The OTel resource of this execution environment, built once at start-up.

Detected attributes (function name, version, memory, region, account) come first;
`OTEL_RESOURCE_ATTRIBUTES` pairs override them, as the OpenTelemetry SDKs do, except that an
explicit `OTEL_SERVICE_NAME` wins over a `service.name` pair (OTel specification precedence).
"""

from __future__ import annotations

from extension.config import Settings
from extension.signals import AttrValue, Resource

SDK_NAME = "lambda-sidecar"
SDK_VERSION = "0.1.0"
MIB = 1024 * 1024


def build_resource(settings: Settings, account_id: str | None, instance_id: str | None = None) -> Resource:
    fn = settings.function
    attrs: dict[str, AttrValue] = {
        "service.name": fn.name,
        "cloud.provider": "aws",
        "cloud.platform": "aws_lambda",
        "cloud.region": fn.region,
        "faas.name": fn.name,
        "faas.version": fn.version,
        "faas.max_memory": fn.memory_mb * MIB,
        "telemetry.sdk.name": SDK_NAME,
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": SDK_VERSION,
    }
    if account_id:
        attrs["cloud.account.id"] = account_id
    if instance_id:
        attrs["faas.instance"] = instance_id
    attrs.update(settings.resource_attributes)
    # Settings.service_name defaults to the function name: only a different value is explicit.
    if settings.service_name and settings.service_name != fn.name:
        attrs["service.name"] = settings.service_name
    return Resource(attributes=attrs)

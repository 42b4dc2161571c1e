"""SSM Parameter Store: GetParameter shaped like the AWS agent, GetParameters batch prefetch."""

from __future__ import annotations

from typing import Any

from extension.cache.aws import AwsClient, region_from_arn
from extension.cache.errors import UpstreamError, UpstreamUnreachable
from extension.cache.providers.batching import Results, batch_then_each, settle_items
from extension.cache.providers.entries import SSM, CacheKey, Payload, iso_ms

BATCH_SIZE = 10  # GetParameters' maximum Names length
REFERENCE_PREFIX = "/aws/reference/"  # e.g. /aws/reference/secretsmanager/NAME: passed through to SSM


def shape_parameter(param: dict[str, Any], selector: str | None = None) -> Payload:
    """`{"Parameter": {ARN, DataType, LastModifiedDate, Name, Selector, SourceResult, Type, Value,
    Version}, "ResultMetadata": {}}` as the AWS agent answers. `selector` (`:1`, `:label`) stands in
    when the answer has no Selector: GetParameter echoes the version or label asked for
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_Parameter.html), some
    emulators do not."""
    if not isinstance(param, dict) or "Value" not in param:
        raise UpstreamUnreachable("SSM returned an incomplete parameter")
    shaped = {
        "Parameter": {
            "ARN": param.get("ARN"),
            "DataType": param.get("DataType"),
            "LastModifiedDate": iso_ms(param.get("LastModifiedDate")),
            "Name": param.get("Name"),
            "Selector": param.get("Selector") or selector,
            "SourceResult": param.get("SourceResult"),
            "Type": param.get("Type"),
            "Value": param.get("Value"),
            "Version": param.get("Version"),
        },
        "ResultMetadata": {},
    }
    return Payload.of(shaped, str(param.get("Version", "")))


def request_name(key: CacheKey) -> str:
    """`name`, `name:version` or `name:label` (the agent's `version` wins over `label`)."""
    if key.version:
        return f"{key.name}:{key.version}"
    if key.label:
        return f"{key.name}:{key.label}"
    return key.name


class SsmProvider:
    def __init__(self, client: AwsClient, timeout_s: float) -> None:
        self._client = client
        self.timeout_s = timeout_s

    async def _call(self, target: str, payload: dict[str, Any], region: str | None) -> dict[str, Any]:
        return await self._client.json_call(
            SSM, f"AmazonSSM.{target}", payload, region=region, timeout_s=self.timeout_s
        )

    async def fetch(self, key: CacheKey, previous: Payload | None) -> Payload:
        payload = {"Name": request_name(key), "WithDecryption": key.decrypt}
        doc = await self._call("GetParameter", payload, region_from_arn(key.name))
        selector = f":{key.version or key.label}" if key.version or key.label else None
        return shape_parameter(doc.get("Parameter") or {}, selector)

    async def fetch_batch(self, keys: list[CacheKey]) -> Results:
        """Unversioned parameters with GetParameters (10 names per call, grouped by region and
        withDecryption); references and anything the batch did not settle go one by one."""
        groups: dict[tuple[str | None, bool], list[CacheKey]] = {}
        for key in keys:
            if not key.version and not key.label and not key.name.startswith(REFERENCE_PREFIX):
                groups.setdefault((region_from_arn(key.name), key.decrypt), []).append(key)
        return await batch_then_each(keys, groups, BATCH_SIZE, self._batch, self.fetch)

    async def _batch(self, part: list[CacheKey], group: tuple[str | None, bool], results: Results) -> None:
        region, decrypt = group
        try:
            doc = await self._call(
                "GetParameters", {"Names": [k.name for k in part], "WithDecryption": decrypt}, region
            )
        except UpstreamError:
            return  # the one-by-one pass reports each key's own error
        wanted = {k.name: k for k in part}
        settle_items(doc.get("Parameters") or [], wanted, ("Name", "ARN"), shape_parameter, results)
        for name in doc.get("InvalidParameters") or []:
            key = wanted.get(name) if isinstance(name, str) else None
            if key is not None and key not in results:
                results[key] = UpstreamError("ParameterNotFound", f"Parameter {name} not found.", 400)

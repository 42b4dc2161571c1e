"""Secrets Manager: GetSecretValue shaped like the AWS agent, cheap change checks, batch prefetch."""

from __future__ import annotations

from typing import Any

from extension.cache.aws import AwsClient, region_from_arn
from extension.cache.errors import UpstreamError, UpstreamUnreachable
from extension.cache.providers.batching import Results, batch_then_each, settle_items
from extension.cache.providers.entries import SECRETS, CacheKey, Payload, iso_ms
from extension.log import get_logger

BATCH_SIZE = 20  # BatchGetSecretValue's maximum SecretIdList length
_log = get_logger("cache")


def shape_secret(doc: dict[str, Any]) -> Payload:
    """The AWS agent's body: ARN, CreatedDate (ISO ms Z), Name, SecretBinary, SecretString,
    VersionId, VersionStages, ResultMetadata."""
    if not isinstance(doc.get("ARN"), str) or not isinstance(doc.get("VersionId"), str):
        raise UpstreamUnreachable("Secrets Manager returned an incomplete secret")
    shaped = {
        "ARN": doc["ARN"],
        "CreatedDate": iso_ms(doc.get("CreatedDate")),
        "Name": doc.get("Name"),
        "SecretBinary": doc.get("SecretBinary"),
        "SecretString": doc.get("SecretString"),
        "VersionId": doc["VersionId"],
        "VersionStages": doc.get("VersionStages") or [],
        "ResultMetadata": {},
    }
    return Payload.of(shaped, doc["VersionId"])


class SecretsManagerProvider:
    """Fetches for the secrets store. DescribeSecret and BatchGetSecretValue need IAM permissions
    that a function written for the AWS agent may not have; on a non-retryable failure of either we
    fall back to plain GetSecretValue for the rest of the environment's life."""

    def __init__(self, client: AwsClient, timeout_s: float) -> None:
        self._client = client
        self.timeout_s = timeout_s
        self.describe_enabled = True
        self.batch_enabled = True

    async def _call(self, target: str, payload: dict[str, Any], region: str | None) -> dict[str, Any]:
        return await self._client.json_call(
            SECRETS, f"secretsmanager.{target}", payload, region=region, timeout_s=self.timeout_s
        )

    async def fetch(self, key: CacheKey, previous: Payload | None) -> Payload:
        region = region_from_arn(key.name)
        cheap_check = previous is not None and not key.version and self.describe_enabled
        if cheap_check and previous is not None and await self._unchanged(key, previous, region):
            return previous
        request: dict[str, Any] = {"SecretId": key.name}
        if key.version:
            request["VersionId"] = key.version
        if key.label:
            request["VersionStage"] = key.label
        return shape_secret(await self._call("GetSecretValue", request, region))

    async def _unchanged(self, key: CacheKey, previous: Payload, region: str | None) -> bool:
        """DescribeSecret (no KMS decrypt) tells whether the cached version still holds the stage."""
        try:
            doc = await self._call("DescribeSecret", {"SecretId": key.name}, region)
        except UpstreamError as err:
            if err.retryable or err.not_found:
                raise
            self.describe_enabled = False
            _log.info("DescribeSecret not allowed (%s); refreshing secrets with GetSecretValue", err.code)
            return False
        stages = (doc.get("VersionIdsToStages") or {}).get(previous.version)
        return isinstance(stages, list) and (key.label or "AWSCURRENT") in stages

    async def fetch_batch(self, keys: list[CacheKey]) -> Results:
        """Current versions of many secrets with BatchGetSecretValue (20 per call, per region).
        Keys the batch could not settle are fetched one by one."""
        by_region: dict[str | None, list[CacheKey]] = {}
        for key in keys:
            by_region.setdefault(region_from_arn(key.name), []).append(key)
        return await batch_then_each(keys, by_region, BATCH_SIZE, self._batch, self.fetch)

    async def _batch(self, part: list[CacheKey], region: str | None, results: Results) -> None:
        if not self.batch_enabled:
            return
        try:
            doc = await self._call("BatchGetSecretValue", {"SecretIdList": [k.name for k in part]}, region)
        except UpstreamError as err:
            if not err.retryable:
                self.batch_enabled = False
                _log.info("BatchGetSecretValue not usable (%s); prefetching one by one", err.code)
            return
        wanted = {k.name: k for k in part}
        settle_items(doc.get("SecretValues") or [], wanted, ("ARN", "Name"), shape_secret, results)
        for error in doc.get("Errors") or []:
            key = wanted.get(error.get("SecretId", "")) if isinstance(error, dict) else None
            if (
                key is not None
                and key not in results
                and error.get("ErrorCode") == "ResourceNotFoundException"
            ):
                results[key] = UpstreamError(
                    "ResourceNotFoundException", str(error.get("ErrorMessage") or "secret not found"), 400
                )

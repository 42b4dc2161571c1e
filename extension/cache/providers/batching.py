"""Batch prefetch as Secrets Manager and SSM both do it: one call per chunk of a group of keys
(a region; for SSM also withDecryption), answers matched back to keys by name or ARN, and a
one-by-one fetch for every key the batch did not settle, so each key ends with its own value or
its own error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from extension.cache.errors import UpstreamError
from extension.cache.providers.entries import CacheKey, Payload, chunks

Results = dict[CacheKey, Payload | UpstreamError]
Group = TypeVar("Group")


async def batch_then_each(
    keys: list[CacheKey],
    groups: Mapping[Group, list[CacheKey]],
    size: int,
    batch: Callable[[list[CacheKey], Group, Results], Awaitable[None]],
    fetch_one: Callable[[CacheKey, Payload | None], Awaitable[Payload]],
) -> Results:
    """`batch(part, group, results)` settles what it can of a chunk of two or more keys (a single
    key is cheaper fetched alone); everything left is fetched one by one."""
    results: Results = {}
    for group, members in groups.items():
        for part in chunks(members, size):
            if len(part) > 1:
                await batch(part, group, results)
    for key in keys:
        if key not in results:
            try:
                results[key] = await fetch_one(key, None)
            except UpstreamError as err:
                results[key] = err
    return results


def settle_items(
    items: Iterable[Any],
    wanted: Mapping[str, CacheKey],
    id_fields: tuple[str, str],
    shape: Callable[[dict[str, Any]], Payload],
    results: Results,
) -> None:
    """Each answered item, shaped, for the key whose name matches one of its `id_fields` (the
    caller may have asked by name or by ARN); an item that does not shape is that key's error."""
    for item in items:
        if not isinstance(item, dict):
            continue
        key = wanted.get(item.get(id_fields[0], "")) or wanted.get(item.get(id_fields[1], ""))
        if key is not None:
            try:
                results[key] = shape(item)
            except UpstreamError as err:
                results[key] = err

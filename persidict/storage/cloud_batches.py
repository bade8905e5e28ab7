"""Batches for the GCS and Azure stores: many requests in flight on one event loop.

A mixin over a store that has ``requests`` (with ``run`` for a coroutine),
``commits`` (a :class:`~persidict.storage.cloud_commits.CloudCommits`) and
``max_workers``; each item's error is handed back in its place, for the
caller to raise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from persidict.storage.base import Payload


class CloudBatches:
    """``write_many``, ``create_many`` and ``delete_many`` of a cloud store, at most
    ``max_workers`` requests at once."""

    requests: Any
    commits: Any
    max_workers: int

    def _gather(self, func: Callable[[Any], Awaitable[Any]], args: list) -> list:
        async def every() -> list:
            limit = asyncio.Semaphore(self.max_workers)

            async def one(arg: Any) -> Any:
                async with limit:
                    try:
                        return await func(arg)
                    except Exception as exc:  # handed back per item, raised by the caller
                        return exc

            return await asyncio.gather(*(one(a) for a in args))

        return list(self.requests.run(every)) if args else []

    def write_many(self, items: Mapping[str, Payload]) -> list[str | BaseException]:
        return self._gather(lambda kv: self.commits.put(*kv), list(items.items()))

    def create_many(self, items: Mapping[str, Payload]) -> list[str | BaseException | None]:
        return self._gather(lambda kv: self.commits.create(*kv), list(items.items()))

    def delete_many(
        self, paths: Iterable[str], *, missing_ok: bool = False
    ) -> list[BaseException | None]:
        async def delete(path: str) -> None:
            try:
                await self.commits.delete(path)
            except FileNotFoundError:
                if not missing_ok:
                    raise

        return self._gather(delete, list(paths))

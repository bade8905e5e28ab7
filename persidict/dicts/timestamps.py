"""Timestamps of a PersiDict: when each key was last written, and what follows from it.

A layer over the dict's stored items (:mod:`persidict.dicts.stored`): a time
is when the store last wrote the file (``Entry.write_time``: one source for
``timestamp`` and the listings, whatever ``set_mtime`` stored for the view),
from the store's listing (one LIST per 1000 keys on S3, a stat per file
locally); values come from concurrent batch reads.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from persidict.dicts.stored import StoredItems
from persidict.safe_str_tuple import NonEmptySafeStrTuple
from persidict.storage.base import MISSING, Entry

_BATCH = 64


class TimestampsMixin(StoredItems):
    """``timestamp``, ``*_and_timestamps``, ``oldest_*``/``newest_*`` and ``random_key``."""

    if TYPE_CHECKING:  # the batch read of PersiDict

        def getitems(self, keys: Any) -> list[Any]: ...

    def timestamp(self, key: Any) -> float:
        """POSIX time (seconds) of the last write of ``key``; KeyError if absent."""
        path = self._path(key)
        try:
            return self.store.info(path).write_time
        except MISSING:
            raise KeyError(key) from None

    def _entries(self) -> Iterator[tuple[NonEmptySafeStrTuple, Entry]]:
        for entry in self.store.walk(self.prefix_path):
            key = self._key_of(entry.path)
            if key is not None:
                yield key, entry

    def keys_and_timestamps(self) -> Iterator[tuple[NonEmptySafeStrTuple, float]]:
        """``(key, timestamp)`` for every key."""
        for key, entry in self._entries():
            yield key, entry.write_time

    def items_and_timestamps(self) -> Iterator[tuple[NonEmptySafeStrTuple, Any, float]]:
        """``(key, value, timestamp)`` for every key; keys deleted meanwhile are skipped."""
        entries = self._entries()
        while batch := list(islice(entries, _BATCH)):
            results = self.store.read_many([e.path for _, e in batch])
            for (key, entry), result in zip(batch, results, strict=True):
                if isinstance(result, MISSING):
                    continue  # deleted since it was listed
                if isinstance(result, BaseException):
                    raise result
                yield key, self._decode(result, entry.path), entry.write_time

    def values_and_timestamps(self) -> Iterator[tuple[Any, float]]:
        """``(value, timestamp)`` for every key."""
        for _, value, mtime in self.items_and_timestamps():
            yield value, mtime

    def _by_time(self, max_n: int | None, newest_first: bool) -> list[NonEmptySafeStrTuple]:
        if max_n is not None and max_n <= 0:
            return []
        pairs = self.keys_and_timestamps()
        if max_n is None:
            ordered = sorted(pairs, key=lambda kt: kt[1], reverse=newest_first)
        else:
            pick = heapq.nlargest if newest_first else heapq.nsmallest
            ordered = pick(max_n, pairs, key=lambda kt: kt[1])
        return [key for key, _ in ordered]

    def oldest_keys(self, *, max_n: int | None = None) -> list[NonEmptySafeStrTuple]:
        """Keys from the least recently written; at most ``max_n`` (None: all)."""
        return self._by_time(max_n, newest_first=False)

    def newest_keys(self, *, max_n: int | None = None) -> list[NonEmptySafeStrTuple]:
        """Keys from the most recently written; at most ``max_n`` (None: all)."""
        return self._by_time(max_n, newest_first=True)

    def oldest_values(self, *, max_n: int | None = None) -> list[Any]:
        """Values of :meth:`oldest_keys`, read concurrently."""
        return self.getitems(self.oldest_keys(max_n=max_n))

    def newest_values(self, *, max_n: int | None = None) -> list[Any]:
        """Values of :meth:`newest_keys`, read concurrently."""
        return self.getitems(self.newest_keys(max_n=max_n))

    def random_key(self) -> NonEmptySafeStrTuple | None:
        """A uniformly random key (one pass over the listing), or None if empty."""
        chosen = None
        for seen, key in enumerate(self, start=1):
            if random.random() * seen < 1:  # keep the n-th key with probability 1/n
                chosen = key
        return chosen

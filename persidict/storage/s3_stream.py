"""Big values read from S3: a file reading one version by ranged GETs.

:class:`RangedReader` reads an object by ``Range`` GETs pinned to its ETag
(``If-Match``), so a concurrent replace is an error naming the path, never a
mix of two versions. It is wrapped in a ``BufferedReader`` for read-ahead;
a whole read of a large rest fetches its parts concurrently.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from persidict.storage.base import PreconditionFailed
from persidict.storage.position import Positioned

if TYPE_CHECKING:
    from persidict.storage.s3 import S3Store

READ_AHEAD = 4 << 20
"""Bytes fetched per ranged GET when reading piece by piece (and by the first GET)."""
PARALLEL_PART = 8 << 20
"""Part size of the concurrent GETs of a whole read."""


class RangedReader(Positioned, io.RawIOBase):
    """Raw, seekable reads of one version (``etag``) of an S3 object of ``size`` bytes."""

    def __init__(self, store: S3Store, path: str, size: int, etag: str, head: bytes = b"") -> None:
        self._store, self._path, self._size, self._etag = store, path, size, etag
        self._head = head  # the first bytes, from the GET that found size and ETag
        self._pos = 0

    def readable(self) -> bool:
        return True

    @property
    def name(self) -> str:
        return self._store.requests.where(self._path)

    def _end(self) -> int:
        return self._size

    def readinto(self, buffer: Any) -> int:
        end = min(self._size, self._pos + len(buffer))
        if end <= self._pos:
            return 0
        data = self._range(self._pos, end)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def readall(self) -> bytes:
        start, end = self._pos, self._size
        if end - start <= PARALLEL_PART:
            data = self._range(start, end) if end > start else b""
        else:
            cuts = range(start, end, PARALLEL_PART)
            ranges = [(c, min(c + PARALLEL_PART, end)) for c in cuts]
            try:
                parts = self._store.read_ranges(self._path, ranges, self._etag)
            except PreconditionFailed:
                raise self._replaced() from None
            data = b"".join(parts)
        self._pos = end
        return data

    def _range(self, start: int, end: int) -> bytes:
        if end <= len(self._head):
            return self._head[start:end]
        try:
            return self._store.read_range(self._path, start, end, etag=self._etag)
        except PreconditionFailed:
            raise self._replaced() from None

    def _replaced(self) -> OSError:
        return OSError(
            f"{self._store.requests.where(self._path)} was replaced while being read "
            f"(ETag {self._etag} is gone); read it again"
        )


def open_ranged(store: S3Store, path: str, size: int, etag: str, head: bytes) -> io.BufferedReader:
    return io.BufferedReader(RangedReader(store, path, size, etag, head), READ_AHEAD)

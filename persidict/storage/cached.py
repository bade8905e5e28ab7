"""CachedStore: a main store read through a local cache store.

Each cache entry is one file holding the main store's ETag and bytes,
written atomically together, so a cache shared by several processes never
pairs one version's bytes with another version's ETag.

- ``revalidate=False`` (append-only data): a cached entry is trusted; a hit
  costs no request to the main store.
- ``revalidate=True`` (mutable data): a hit costs one conditional read of the
  main store (``read_if_changed``; on S3 a GET with ``If-None-Match``, which
  answers 304 without a body when the entry is current).

Writes and deletes go to the main store first, then to the cache. Listings,
sizes and times always come from the main store.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import suppress
from typing import BinaryIO

from persidict.storage.base import ByteStore, Entry, Payload


class CachedStore(ByteStore):
    """``main`` read through ``cache``; entries live at ``cache_prefix/<path>``."""

    def __init__(
        self, main: ByteStore, cache: ByteStore, *, revalidate: bool, cache_prefix: str = ""
    ) -> None:
        self.main = main
        self.cache = cache
        self.revalidate = revalidate
        self.cache_prefix = cache_prefix.strip("/")
        self.url = main.url
        self.max_workers = main.max_workers

    def __repr__(self) -> str:
        return f"CachedStore({self.main!r}, cache={self.cache!r}, revalidate={self.revalidate})"

    # cache entries: b"<etag>\n" + bytes
    def _cache_path(self, path: str) -> str:
        return f"{self.cache_prefix}/{path}" if self.cache_prefix else path

    def _cached(self, path: str) -> tuple[bytes, str] | None:
        try:
            entry = self.cache.read(self._cache_path(path))
        except FileNotFoundError:
            return None
        etag, sep, data = entry.partition(b"\n")
        return (data, etag.decode()) if sep else None

    def _remember(self, path: str, data: bytes | bytearray | memoryview, etag: str) -> None:
        self.cache.write(self._cache_path(path), b"".join([etag.encode(), b"\n", data]))

    def _forget(self, path: str) -> None:
        with suppress(FileNotFoundError):
            self.cache.delete(self._cache_path(path))

    # reading
    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        cached = self._cached(path)
        if cached is not None:
            if not self.revalidate:
                return cached
            try:
                fresh, etag = self.main.read_if_changed(path, cached[1])
            except FileNotFoundError:
                self._forget(path)
                raise
            if fresh is None:
                return cached
        else:
            fresh, etag = self.main.read_with_etag(path)
        self._remember(path, fresh, etag)
        return fresh, etag

    def read(self, path: str) -> bytes:
        return self.read_with_etag(path)[0]

    def read_if_changed(self, path: str, etag: str) -> tuple[bytes | None, str]:
        data, current = self.read_with_etag(path)
        return (None, etag) if current == etag else (data, current)

    def info(self, path: str) -> Entry:
        return self.main.info(path)

    def exists(self, path: str) -> bool:
        if not self.revalidate and self._cached(path) is not None:
            return True
        return self.main.exists(path)

    def open_read(self, path: str) -> BinaryIO:
        """A trusted cache hit from memory; else the main store's file (not cached)."""
        cached = None if self.revalidate else self._cached(path)
        return io.BytesIO(cached[0]) if cached is not None else self.main.open_read(path)

    # writing: the main store decides, the cache follows
    def _follow(self, path: str, data: Payload, etag: str) -> None:
        if callable(data):  # streamed into the main store: nothing to keep here
            self._forget(path)
        else:
            self._remember(path, data, etag)

    def write(self, path: str, data: Payload) -> str:
        etag = self.main.write(path, data)
        self._follow(path, data, etag)
        return etag

    def create(self, path: str, data: Payload) -> str | None:
        etag = self.main.create(path, data)
        if etag is not None:
            self._follow(path, data, etag)
        return etag

    def write_if(self, path: str, data: Payload, etag: str) -> str:
        new_etag = self.main.write_if(path, data, etag)
        self._follow(path, data, new_etag)
        return new_etag

    def set_mtime(self, path: str, mtime: float) -> None:
        self.main.set_mtime(path, mtime)

    def make_folder(self, path: str) -> None:
        self.main.make_folder(path)

    def remove_folder(self, path: str) -> None:
        self.main.remove_folder(path)

    def delete(self, path: str) -> None:
        self.main.delete(path)
        self._forget(path)

    def delete_if(self, path: str, etag: str) -> None:
        self.main.delete_if(path, etag)
        self._forget(path)

    # listing
    def walk(self, prefix: str = "") -> Iterator[Entry]:
        return self.main.walk(prefix)

    def walk_with_folders(self, prefix: str = "") -> Iterator[Entry | str]:
        return self.main.walk_with_folders(prefix)

    def iter_paths(self, prefix: str = "") -> Iterator[str]:
        return self.main.iter_paths(prefix)

    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        return self.main.listdir(prefix)

    def is_empty(self, prefix: str = "") -> bool:
        return self.main.is_empty(prefix)

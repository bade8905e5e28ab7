"""S3Store: bytes under ``s3://bucket/prefix``, one HTTP request per operation.

Talks to S3 through s3fs's aiobotocore client directly, never through
s3fs's listing cache, so a write by another machine is visible at once.
The store is made of parts, one job each:

- ``s3_requests``: one request, its bounded retries, errors naming the path;
- ``s3_commits``: writes (exclusive create, compare-and-swap, multipart),
  exact under faults (``s3_faults``: what a failure means, write ids);
- ``s3_listing``: listings and empty-folder markers;
- ``s3_stream``: ranged reads of one version; ``s3_workers``: pickling.

This module reads (GET, HEAD), keeps modification times, and runs batches
with many requests in flight on one event loop.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, BinaryIO

from persidict.errors import OutcomeUnknownError
from persidict.storage import s3_gc, s3_listing, s3_probe, s3_stream
from persidict.storage.base import ByteStore, Entry, Payload
from persidict.storage.s3_commits import S3Commits
from persidict.storage.s3_faults import (
    ConditionalWritesUnsupportedError,
    S3Error,
    S3TimeoutError,
    SeenVersions,
    Version,
)
from persidict.storage.s3_requests import CONNECTIONS, NotModified, S3Requests
from persidict.storage.s3_workers import reduce_store, remember

MTIME = "mtime"
"""User-metadata name of a modification time set by ``set_mtime`` (seconds, as rclone)."""
_DELETE_BATCH = 1000  # S3's limit for one DeleteObjects


class S3Store(ByteStore):
    """Bytes at relative paths under ``root_prefix`` in ``bucket``.

    ``storage_options`` go to ``s3fs.S3FileSystem`` (``endpoint_url``,
    ``key``, ``secret``, ``client_kwargs``, ``s3_additional_kwargs``, ...),
    except these, which are the store's own:

    - ``request_timeout`` (seconds, default 8): how long one request waits
      to connect and for an answer; an operation retries for at most 1.5 times
      this, so a silent endpoint fails an operation within 16 s (24 s for a
      conditional one, which also reads back what it may have written).
    - ``max_attempts`` (default 5): tries of a transiently failing request.
    - ``ship_credentials`` (default False): put ``key``/``secret``/``token``
      into pickles of this store (workers otherwise take credentials from
      their environment or credential files).

    ``create_bucket=True`` makes the bucket if it does not exist.
    """

    max_workers = CONNECTIONS
    markers_count_as_content = True
    """``is_empty(folder)`` is False for an empty folder: its ``name/`` marker is under it."""

    def __init__(
        self,
        bucket: str,
        root_prefix: str = "",
        *,
        create_bucket: bool = False,
        **storage_options: Any,
    ) -> None:
        if not bucket or "/" in bucket:
            raise ValueError(f"invalid S3 bucket name {bucket!r}")
        self.bucket = bucket
        self.prefix = root_prefix.strip("/")
        self.storage_options = storage_options
        self.requests = S3Requests(bucket, self.prefix, storage_options)
        """Every request of this store goes through it (``requests.run`` runs a coroutine)."""
        self.url = self.requests.url
        self.seen = SeenVersions()
        """Versions read or written last, so that a write can name the one it replaces."""
        self.commits = S3Commits(self.requests, self.seen)
        """Every write and delete of this store (plain, conditional, multipart)."""
        if create_bucket:
            self.requests.create_bucket()
        remember(self)

    def __reduce__(self):
        return reduce_store(self)

    @property
    def fs(self) -> Any:
        """The s3fs filesystem, rebuilt after a fork (its event loop is per process)."""
        return self.requests.fs

    # reading
    async def _get(self, path: str, **conditions: Any) -> tuple[bytes, str]:
        resp = await self.requests.request(
            "get_object", path, Key=self.requests.key(path), **conditions
        )
        return resp["Data"], self.seen.remember(path, Version.of(resp)).etag

    def read(self, path: str) -> bytes:
        return self.requests.run(self._get, path)[0]

    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        return self.requests.run(self._get, path)

    def read_if_changed(self, path: str, etag: str) -> tuple[bytes | None, str]:
        try:
            return self.requests.run(lambda: self._get(path, IfNoneMatch=f'"{etag}"'))
        except NotModified:
            return None, etag

    async def _get_range(self, path: str, start: int, end: int, etag: str | None) -> bytes:
        pin = {"IfMatch": f'"{etag}"'} if etag else {}
        try:
            return (await self._get(path, Range=f"bytes={start}-{end - 1}", **pin))[0]
        except S3Error as exc:
            if exc.code == "InvalidRange":
                return b""
            raise

    def read_range(self, path: str, start: int, end: int | None, etag: str | None = None) -> bytes:
        if end is not None and end <= start:
            return b""
        if end is None:
            end = self.info(path).size if etag is None else (1 << 62)
        return self.requests.run(self._get_range, path, start, end, etag)

    def read_ranges(self, path: str, ranges: list[tuple[int, int]], etag: str) -> list[bytes]:
        """Bytes ``[start:end]`` for each ``(start, end)``, by concurrent GETs of one version.

        PreconditionFailed if the stored version's ETag is no longer ``etag``.
        """

        async def fetch_all() -> list[bytes]:
            return await asyncio.gather(*(self._get_range(path, s, e, etag) for s, e in ranges))

        return self.requests.run(fetch_all)

    async def _first(self, path: str, limit: int) -> tuple[bytes, int, str]:
        """The first ``limit`` bytes, the size and the ETag, in one GET."""
        request, key = self.requests.request, self.requests.key(path)
        try:
            resp = await request("get_object", path, Key=key, Range=f"bytes=0-{max(limit, 1) - 1}")
        except S3Error as exc:
            if exc.code != "InvalidRange":  # an empty object has no byte 0
                raise
            resp = await request("get_object", path, Key=key)
        version = self.seen.remember(path, Version.of(resp))
        total = resp.get("ContentRange", "").rpartition("/")[2]
        return resp["Data"], int(total) if total.isdigit() else len(resp["Data"]), version.etag

    def read_or_open(self, path: str, limit: int) -> bytes | BinaryIO:
        """One GET of the first ``limit`` bytes: all of them, or a file reading on from there."""
        data, size, etag = self.requests.run(self._first, path, limit)
        if size <= len(data):
            return data
        return s3_stream.open_ranged(self, path, size, etag, data)

    def read_head(self, path: str, limit: int) -> tuple[bytes, int, str]:
        """One GET: the first ``limit`` bytes, the size and the ETag of one version."""
        return self.requests.run(self._first, path, limit)

    def open_read(self, path: str) -> BinaryIO:
        """A file of one version: ranged GETs pinned by If-Match, read-ahead, parallel reads."""
        got = self.read_or_open(path, s3_stream.READ_AHEAD)
        return io.BytesIO(got) if isinstance(got, (bytes, bytearray)) else got

    # metadata: size, times, ETag
    def info(self, path: str) -> Entry:
        key = self.requests.key(path)
        resp = self.requests.run(lambda: self.requests.request("head_object", path, Key=key))
        self.seen.remember(path, Version.of(resp))
        mtime = (resp.get("Metadata") or {}).get(MTIME)
        written = resp["LastModified"].timestamp()
        return Entry(
            path,
            resp["ContentLength"],
            float(mtime) if mtime else written,
            resp["ETag"].strip('"'),
            written,
        )

    def set_mtime(self, path: str, mtime: float) -> None:
        """Store ``mtime`` as user metadata (as rclone does) by a CopyObject in place."""
        self.requests.run(self._set_mtime, path, mtime)

    async def _set_mtime(self, path: str, mtime: float) -> None:
        key = self.requests.key(path)
        resp = await self.requests.request("head_object", path, Key=key)
        now = self.seen.remember(path, Version.of(resp))
        meta = dict(resp.get("Metadata") or {})
        meta.update({MTIME: repr(float(mtime))})
        await self.commits.copy_in_place(path, now, meta)

    # writing: see s3_commits
    def write(self, path: str, data: Payload) -> str:
        return self.requests.run(self.commits.put, path, data)

    def create(self, path: str, data: Payload) -> str | None:
        return self.requests.run(self.commits.create, path, data)

    def write_if(self, path: str, data: Payload, etag: str) -> str:
        return self.requests.run(self.commits.write_if, path, data, etag)

    def delete(self, path: str) -> None:
        # S3's DELETE succeeds on absent keys; the HEAD gives KeyError semantics.
        self.requests.run(self.commits.delete, path)

    def delete_if(self, path: str, etag: str) -> None:
        self.requests.run(self.commits.delete_if, path, etag)

    def collect_garbage(self, older_than: float = s3_gc.DEFAULT_AGE) -> list[str]:
        """Abort unfinished multipart uploads under the prefix, and delete leftover
        conditional-write probes at the bucket root, begun more than ``older_than``
        seconds ago (a writer killed mid-upload leaves them); the URLs removed."""
        return self.requests.run(s3_gc.collect, self.requests, older_than)

    def check_conditional_writes(self) -> None:
        """Probe now whether the server honours conditional writes (else raise)."""
        self.requests.run(s3_probe.require_conditional, self.requests)

    # listing and empty folders: see s3_listing
    def walk(self, prefix: str = "") -> Iterator[Entry]:
        return s3_listing.walk(self.requests, prefix)

    def walk_with_folders(self, prefix: str = "") -> Iterator[Entry | str]:
        return s3_listing.walk_with_folders(self.requests, prefix)

    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        return s3_listing.listdir(self.requests, prefix)

    def is_empty(self, prefix: str = "") -> bool:
        return s3_listing.is_empty(self.requests, prefix)

    def make_folder(self, path: str) -> None:
        if self.exists(path):
            raise FileExistsError(f"{self.requests.where(path)} is a file, not a folder")
        # the zero-byte ``path/`` marker that keeps an empty folder, as S3 consoles make
        self.requests.run(self.commits.put, f"{path}/", b"")

    def remove_folder(self, path: str) -> None:
        s3_listing.check_empty(self.requests, path)
        self.requests.run(lambda: self.commits.delete(f"{path}/", must_exist=False))

    # batches: one event loop, many requests in flight
    def _gather(self, coro_fn, args: list) -> list:
        async def run_all():
            limit = asyncio.Semaphore(self.max_workers)

            async def one(arg):
                async with limit:
                    try:
                        return await coro_fn(arg)
                    except Exception as exc:
                        return exc

            return await asyncio.gather(*(one(a) for a in args))

        return self.requests.run(run_all) if args else []

    def read_many(self, paths: Iterable[str]) -> list[bytes | BaseException]:
        async def read_one(path):
            return (await self._get(path))[0]

        return self._gather(read_one, list(paths))

    def write_many(self, items: Mapping[str, Payload]) -> list[str | BaseException]:
        return self._gather(lambda kv: self.commits.put(*kv), list(items.items()))

    def create_many(self, items: Mapping[str, Payload]) -> list[str | BaseException | None]:
        return self._gather(lambda kv: self.commits.create(*kv), list(items.items()))

    def delete_many(
        self, paths: Iterable[str], *, missing_ok: bool = False
    ) -> list[BaseException | None]:
        """Delete ``paths`` by DeleteObjects, 1,000 keys per request, never resent blindly
        (``S3Commits.delete_objects``).

        S3's delete cannot say whether a key was there: without ``missing_ok``
        a HEAD per key (concurrent) finds the absent ones first
        (FileNotFoundError); the versions it sees settle a lost reply.
        """
        paths = list(paths)
        unique = list(dict.fromkeys(paths))
        outcomes: dict[str, BaseException | None] = {}
        present = unique
        if not missing_ok:
            found = self._gather(self._version, unique)
            present = [p for p, v in zip(unique, found, strict=True) if isinstance(v, Version)]
            outcomes.update(
                (p, v) for p, v in zip(unique, found, strict=True) if isinstance(v, BaseException)
            )
        chunks = [present[i : i + _DELETE_BATCH] for i in range(0, len(present), _DELETE_BATCH)]
        for chunk, outcome in zip(
            chunks, self._gather(self.commits.delete_objects, chunks), strict=True
        ):
            if isinstance(outcome, list):
                outcomes.update(zip(chunk, outcome, strict=True))
            else:
                outcomes.update(dict.fromkeys(chunk, outcome))
        return [outcomes[p] for p in paths]

    async def _version(self, path: str) -> Version:
        """The stored version of ``path`` (FileNotFoundError if none), remembered as seen."""
        resp = await self.requests.request("head_object", path, Key=self.requests.key(path))
        return self.commits.seen.remember(path, Version.of(resp))


__all__ = [
    "ConditionalWritesUnsupportedError",
    "OutcomeUnknownError",
    "S3Error",
    "S3Store",
    "S3TimeoutError",
]

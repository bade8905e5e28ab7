"""GCSStore: bytes under ``gs://bucket/prefix`` through the JSON API, one request per operation.

Its parts: ``requests`` (one request, bounded retries, errors naming the
path) and ``commits`` (uploads and deletes under generation preconditions,
lost replies settled by write ids). This module reads, lists, runs batches
concurrently on one event loop, and pickles without secrets. The ETag of a
stored file is its GCS generation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

from persidict.storage.base import ByteStore, Entry, Payload, PreconditionFailed, is_temp_name
from persidict.storage.cloud_batches import CloudBatches
from persidict.storage.gcs.commits import GCSCommits, version_of
from persidict.storage.gcs.requests import GCSError, GCSRequests, HTTPStatus
from persidict.storage.s3_faults import SeenVersions

_PAGE = 1000


def _mtime(resource: dict) -> float:
    stamp = resource.get("updated") or resource.get("timeCreated")
    if not stamp:
        return 0.0
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class GCSStore(CloudBatches, ByteStore):
    """Bytes at relative paths under ``root_prefix`` in GCS bucket ``bucket``.

    ``storage_options`` go to ``gcsfs.GCSFileSystem`` (``token``,
    ``project``, ``endpoint_url``, ``requester_pays``, ...), except the
    store's own: ``request_timeout`` (seconds one request waits, default 8),
    ``max_attempts`` (tries of a transiently failing request, default 5) and
    ``ship_credentials`` (put a credentials ``token`` into pickles).
    ``create_bucket=True`` makes the bucket if it does not exist.
    """

    max_workers = 64

    def __init__(
        self,
        bucket: str,
        root_prefix: str = "",
        *,
        create_bucket: bool = False,
        **storage_options: Any,
    ) -> None:
        if not bucket or "/" in bucket:
            raise ValueError(f"invalid GCS bucket name {bucket!r}")
        self.bucket = bucket
        self.prefix = root_prefix.strip("/")
        self.storage_options = storage_options
        self.requests = GCSRequests(bucket, self.prefix, storage_options)
        self.url = self.requests.url
        self.seen = SeenVersions()
        self.commits = GCSCommits(self.requests, self.seen)
        if create_bucket:
            self.requests.run(self._create_bucket)

    async def _create_bucket(self) -> None:
        requests = self.requests
        try:
            await requests.attempt(
                "POST",
                "b",
                params={"project": requests.fs.project},
                headers={"Content-Type": "application/json"},
                data=json.dumps({"name": self.bucket}).encode(),
            )
        except HTTPStatus as exc:
            if exc.status != 409:  # 409: it exists
                raise await requests.error(exc, None, "create bucket") from exc

    def __reduce__(self):
        options = dict(self.storage_options)
        if not options.get("ship_credentials") and not isinstance(options.get("token"), str):
            # Credentials (a dict, an object) stay here: workers take theirs from their
            # environment, as S3 stores do. A mode ("anon", "google_default") or a file
            # path is no secret and travels.
            options.pop("token", None)
        return (_rebuild, (self.bucket, self.prefix, options))

    def _object(self, path: str) -> str:
        return self.requests.object_url(self.requests.key(path))

    # reading
    async def _get(self, path: str) -> tuple[bytes, str]:
        headers, body = await self.requests.request(
            "GET", self._object(path), path, params={"alt": "media"}
        )
        generation = {k.lower(): v for k, v in headers.items()}.get("x-goog-generation", "")
        return body, generation

    async def _get_version(self, path: str) -> tuple[bytes, str]:
        """The bytes of one version and its generation, its write ids remembered.

        A media GET carries no metadata, so the version's resource comes first and
        the bytes are read pinned to its generation: a writer that replaces this
        version then names it by its write id, which a writer whose reply was lost
        can recognise (it knows its id, not its generation).
        """
        for _ in range(self.requests.max_attempts):
            resource = await self.requests.json("GET", self._object(path), path)
            generation = self.seen.remember(path, version_of(resource)).etag
            try:
                _, body = await self.requests.request(
                    "GET",
                    self._object(path),
                    path,
                    params={"alt": "media", "generation": generation},
                )
            except FileNotFoundError:
                continue  # replaced in between: read the new version
            return body, generation
        raise GCSError(
            f"{self.url}/{path} was replaced {self.requests.max_attempts} times while being read",
            operation="read",
        )

    def read(self, path: str) -> bytes:
        return self.requests.run(self._get, path)[0]

    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        return self.requests.run(self._get_version, path)

    async def _get_range(self, path: str, start: int, end: int | None, etag: str | None) -> bytes:
        if end is not None and end <= start:
            return b""
        rng = f"bytes={start}-{'' if end is None else end - 1}"
        params: dict[str, Any] = {"alt": "media"}
        if etag is not None:
            params["generation"] = etag  # that version only: 404 once it is replaced
        try:
            _, body = await self.requests.request(
                "GET", self._object(path), path, params=params, headers={"Range": rng}
            )
        except FileNotFoundError:
            if etag is None:
                raise
            now = await self._info(path)  # FileNotFoundError if the key itself is gone
            raise PreconditionFailed(
                f"{self.url}/{path} has generation {now.etag}, not {etag}"
            ) from None
        except OSError as exc:
            if "416" in str(exc):  # past the end: nothing there, as for a slice
                return b""
            raise
        return body

    def read_range(self, path: str, start: int, end: int | None, etag: str | None = None) -> bytes:
        return self.requests.run(self._get_range, path, start, end, etag)

    async def _info(self, path: str) -> Entry:
        resource = await self.requests.json("GET", self._object(path), path)
        self.seen.remember(path, version_of(resource))
        return Entry(
            path, int(resource.get("size", 0)), _mtime(resource), str(resource["generation"])
        )

    def info(self, path: str) -> Entry:
        return self.requests.run(self._info, path)

    # writing
    def write(self, path: str, data: Payload) -> str:
        return self.requests.run(self.commits.put, path, data)

    def create(self, path: str, data: Payload) -> str | None:
        return self.requests.run(self.commits.create, path, data)

    def write_if(self, path: str, data: Payload, etag: str) -> str:
        return self.requests.run(self.commits.write_if, path, data, etag)

    def delete(self, path: str) -> None:
        self.requests.run(self.commits.delete, path)

    def delete_if(self, path: str, etag: str) -> None:
        self.requests.run(self.commits.delete_if, path, etag)

    def check_conditional_writes(self) -> None:
        """Probe now whether the endpoint honours preconditions (else it is done at first use)."""
        self.requests.run(self.commits.require_conditional)

    # listing
    async def _list_page(self, prefix: str, delimiter: bool, token: str | None) -> dict:
        params: dict[str, Any] = {"prefix": prefix, "maxResults": _PAGE}
        if delimiter:
            params["delimiter"] = "/"
        if token:
            params["pageToken"] = token
        return await self.requests.json(
            "GET", f"b/{quote(self.bucket, safe='')}/o", None, params=params
        )

    def _pages(self, prefix: str, delimiter: bool) -> Iterator[dict]:
        token: str | None = None
        while True:
            page = self.requests.run(self._list_page, prefix, delimiter, token)
            self.requests.bucket_seen = True
            yield page
            token = page.get("nextPageToken")
            if not token:
                return

    def _entry(self, resource: dict) -> Entry:
        return Entry(
            self.requests.relative(resource["name"]),
            int(resource.get("size", 0)),
            _mtime(resource),
            str(resource["generation"]),
        )

    def walk(self, prefix: str = "") -> Iterator[Entry]:
        for page in self._pages(self.requests.folder_key(prefix), delimiter=False):
            for resource in page.get("items", ()):
                entry = self._entry(resource)
                name = entry.path.rpartition("/")[2]
                if name and not is_temp_name(name):
                    yield entry

    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        files: list[Entry] = []
        folders: list[str] = []
        cut = len(self.requests.folder_key(prefix))
        for page in self._pages(self.requests.folder_key(prefix), delimiter=True):
            for resource in page.get("items", ()):
                entry = self._entry(resource)
                name = entry.path.rpartition("/")[2]
                if name and not is_temp_name(name):
                    files.append(entry)
            folders.extend(p[cut:].rstrip("/") for p in page.get("prefixes", ()))
        return files, [f for f in folders if f and not is_temp_name(f)]

    # batches (the rest: cloud_batches)
    def read_many(self, paths: Iterable[str]) -> list[bytes | BaseException]:
        async def read(path: str) -> bytes:
            return (await self._get(path))[0]

        return self._gather(read, list(paths))


def _rebuild(bucket: str, prefix: str, options: dict[str, Any]) -> GCSStore:
    return GCSStore(bucket, prefix, **options)


__all__ = ["GCSStore"]

"""S3Store: bytes under ``s3://bucket/prefix``, one HTTP request per operation.

Talks to S3 through s3fs's aiobotocore client directly, never through
s3fs's listing cache, so a write by another machine is visible at once.
Exclusive create is ``PUT If-None-Match: *``; compare-and-swap is
``PUT``/``DELETE`` with ``If-Match: <etag>``. Retries are botocore's, for
the errors it knows to be transient, plus S3's 409 on racing conditional
writes; nothing else is retried.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)
from fsspec.asyn import sync

from persidict.errors import BackendError
from persidict.storage.base import (
    ByteStore,
    Entry,
    PreconditionFailed,
    RootNotFoundError,
    is_temp_name,
)

DEFAULT_CONFIG = {
    "connect_timeout": 5,
    "read_timeout": 60,
    "retries": {"max_attempts": 3, "mode": "standard"},
}
_MISSING = {"NoSuchKey", "404", "NotFound"}
_DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "403",
    "ExpiredToken",
    "InvalidToken",
}
_CONFLICT_RETRIES = 5
_DELETE_BATCH = 1000  # S3's limit for one DeleteObjects


class NotModified(Exception):
    """A conditional GET found the ETag unchanged (HTTP 304)."""


class S3Store(ByteStore):
    """Bytes at relative paths under ``root_prefix`` in ``bucket``.

    ``storage_options`` go to ``s3fs.S3FileSystem`` (``endpoint_url``,
    ``key``, ``secret``, ``client_kwargs``, ...). ``create_bucket=True``
    makes the bucket if it does not exist.
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
            raise ValueError(f"invalid S3 bucket name {bucket!r}")
        self.bucket = bucket
        self.prefix = root_prefix.strip("/")
        self.storage_options = storage_options
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._fs = None
        self._pid = None
        if create_bucket:
            self._create_bucket()

    def __reduce__(self):
        return (_rebuild, (self.bucket, self.prefix, self.storage_options))

    @property
    def fs(self):
        """The s3fs filesystem, rebuilt after a fork (its event loop is per process)."""
        if self._fs is None or self._pid != os.getpid():
            import s3fs

            from persidict.moto_compat import s3fs_options

            options = s3fs_options(dict(self.storage_options))
            config = {**DEFAULT_CONFIG, **options.pop("config_kwargs", {})}
            self._fs = s3fs.S3FileSystem(config_kwargs=config, skip_instance_cache=True, **options)
            self._pid = os.getpid()
        return self._fs

    def _key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix and path else self.prefix or path

    def _relative(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def _where(self, path: str = "") -> str:
        return f"s3://{self.bucket}/{self._key(path)}"

    # plumbing
    def _run(self, coro_fn, *args):
        return sync(self.fs.loop, coro_fn, *args)

    async def _call(self, method: str, path: str | None = None, **kwargs: Any) -> dict:
        client = await self.fs.set_session()
        kwargs.setdefault("Bucket", self.bucket)
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                return await getattr(client, method)(**kwargs)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "ConditionalRequestConflict" and attempt < _CONFLICT_RETRIES:
                    await asyncio.sleep(0.05 * 2**attempt)
                    continue
                raise self._translate(exc, path) from exc
            except EndpointConnectionError as exc:
                raise ConnectionError(
                    f"cannot reach S3 endpoint for {self._where(path or '')}: {exc}"
                ) from exc
            except NoCredentialsError as exc:
                raise PermissionError(
                    f"no S3 credentials for {self._where(path or '')}: {exc}"
                ) from exc
            except BotoCoreError as exc:
                raise BackendError(
                    f"S3 request for {self._where(path or '')} failed: {exc}",
                    backend="s3",
                    operation=method,
                ) from exc
        raise AssertionError("unreachable")

    def _translate(self, exc: ClientError, path: str | None) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        where = self._where(path or "")
        if code == "NoSuchBucket":
            return RootNotFoundError(f"S3 bucket {self.bucket!r} does not exist ({where})")
        if code in _MISSING:
            return FileNotFoundError(f"no object at {where}")
        if code in ("PreconditionFailed", "412"):
            return PreconditionFailed(f"{where}: precondition failed")
        if code in ("304", "NotModified"):
            return NotModified(where)
        if code in _DENIED:
            return PermissionError(
                f"S3 refused access to {where}: {code} {error.get('Message', '')}"
            )
        return BackendError(
            f"S3 error {code} at {where}: {error.get('Message', exc)}",
            backend="s3",
            operation=exc.operation_name,
        )

    def _create_bucket(self) -> None:
        """Make the bucket if a HEAD says it is missing; a 403 means it exists elsewhere."""

        async def make():
            try:
                await self._call("head_bucket")
                return
            except PermissionError:
                return  # someone else's bucket, maybe shared with us by a policy
            except (FileNotFoundError, RootNotFoundError):
                pass
            client = await self.fs.set_session()
            region = client.meta.region_name
            where = {}
            if region and region != "us-east-1":
                where = {"CreateBucketConfiguration": {"LocationConstraint": region}}
            try:
                await self._call("create_bucket", **where)
            except OSError as exc:
                if "BucketAlreadyOwnedByYou" not in str(exc) and "BucketAlreadyExists" not in str(
                    exc
                ):
                    raise

        self._run(make)

    # reading
    async def _get(self, path: str, **conditions: Any) -> tuple[bytes, str]:
        resp = await self._call("get_object", path, Key=self._key(path), **conditions)
        body = resp["Body"]
        try:
            data = await body.read()
        finally:
            body.close()
        return data, resp["ETag"].strip('"')

    def read(self, path: str) -> bytes:
        return self._run(self._get, path)[0]

    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        return self._run(self._get, path)

    def read_if_changed(self, path: str, etag: str) -> tuple[bytes | None, str]:
        try:
            return self._run(lambda: self._get(path, IfNoneMatch=f'"{etag}"'))
        except NotModified:
            return None, etag

    def read_range(self, path: str, start: int, end: int | None) -> bytes:
        if end is not None and end <= start:
            return b""
        last = "" if end is None else str(end - 1)
        try:
            return self._run(lambda: self._get(path, Range=f"bytes={start}-{last}"))[0]
        except OSError as exc:
            if "InvalidRange" in str(exc):
                return b""
            raise

    def info(self, path: str) -> Entry:
        resp = self._run(lambda: self._call("head_object", path, Key=self._key(path)))
        return Entry(
            path,
            resp["ContentLength"],
            resp["LastModified"].timestamp(),
            resp["ETag"].strip('"'),
        )

    # writing
    async def _put(self, path: str, data: bytes, **conditions: Any) -> str:
        resp = await self._call("put_object", path, Key=self._key(path), Body=data, **conditions)
        return resp["ETag"].strip('"')

    def write(self, path: str, data: bytes) -> str:
        return self._run(self._put, path, data)

    def create(self, path: str, data: bytes) -> str | None:
        try:
            return self._run(lambda: self._put(path, data, IfNoneMatch="*"))
        except PreconditionFailed:
            return None

    def write_if(self, path: str, data: bytes, etag: str) -> str:
        try:
            return self._run(lambda: self._put(path, data, IfMatch=f'"{etag}"'))
        except FileNotFoundError:
            raise PreconditionFailed(f"{self._where(path)} is absent") from None

    def delete(self, path: str) -> None:
        # S3's DELETE succeeds on absent keys; the HEAD gives KeyError semantics.
        async def head_then_delete():
            await self._call("head_object", path, Key=self._key(path))
            await self._call("delete_object", path, Key=self._key(path))

        self._run(head_then_delete)

    def delete_if(self, path: str, etag: str) -> None:
        try:
            self._run(
                lambda: self._call("delete_object", path, Key=self._key(path), IfMatch=f'"{etag}"')
            )
        except FileNotFoundError:
            raise PreconditionFailed(f"{self._where(path)} is absent") from None

    # listing
    def _folder(self, prefix: str) -> str:
        key = self._key(prefix)
        return f"{key}/" if key else ""

    def _pages(self, **kwargs: Any) -> Iterator[dict]:
        token = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._run(lambda extra=extra: self._call("list_objects_v2", **kwargs, **extra))
            yield page
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def _entries(self, page: dict) -> Iterator[Entry]:
        for obj in page.get("Contents", ()):
            rel = self._relative(obj["Key"])
            if rel and not rel.endswith("/") and not is_temp_name(rel.rpartition("/")[2]):
                yield Entry(
                    rel, obj["Size"], obj["LastModified"].timestamp(), obj["ETag"].strip('"')
                )

    def walk(self, prefix: str = "") -> Iterator[Entry]:
        for page in self._pages(Prefix=self._folder(prefix)):
            yield from self._entries(page)

    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        files: list[Entry] = []
        dirs: list[str] = []
        folder = self._folder(prefix)
        for page in self._pages(Prefix=folder, Delimiter="/"):
            files.extend(self._entries(page))
            for common in page.get("CommonPrefixes", ()):
                dirs.append(common["Prefix"][len(folder) :].rstrip("/"))
        return files, dirs

    def is_empty(self, prefix: str = "") -> bool:
        page = self._run(
            lambda: self._call("list_objects_v2", Prefix=self._folder(prefix), MaxKeys=1)
        )
        return not page.get("KeyCount")

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

        return self._run(run_all) if args else []

    def read_many(self, paths: Iterable[str]) -> list[bytes | BaseException]:
        async def read_one(path):
            return (await self._get(path))[0]

        return self._gather(read_one, list(paths))

    def write_many(self, items: Mapping[str, bytes]) -> list[str | BaseException]:
        return self._gather(lambda kv: self._put(*kv), list(items.items()))

    def create_many(self, items: Mapping[str, bytes]) -> list[str | BaseException | None]:
        async def create_one(kv):
            try:
                return await self._put(*kv, IfNoneMatch="*")
            except PreconditionFailed:
                return None

        return self._gather(create_one, list(items.items()))

    def delete_many(
        self, paths: Iterable[str], *, missing_ok: bool = False
    ) -> list[BaseException | None]:
        paths = list(paths)
        if missing_ok:  # no existence to report: one DeleteObjects per 1000 keys
            chunks = [paths[i : i + _DELETE_BATCH] for i in range(0, len(paths), _DELETE_BATCH)]
            results: list[BaseException | None] = []
            for chunk, outcome in zip(
                chunks, self._gather(self._delete_objects, chunks), strict=True
            ):
                results.extend(outcome if isinstance(outcome, list) else [outcome] * len(chunk))
            return results

        async def delete_one(path):
            await self._call("head_object", path, Key=self._key(path))
            await self._call("delete_object", path, Key=self._key(path))

        return self._gather(delete_one, paths)

    async def _delete_objects(self, paths: list[str]) -> list[BaseException | None]:
        objects = [{"Key": self._key(p)} for p in paths]
        resp = await self._call("delete_objects", Delete={"Objects": objects, "Quiet": True})
        failed = {e["Key"]: e for e in resp.get("Errors", ())}
        return [
            OSError(
                f"S3 could not delete {self._where(p)}: {failed[k]['Code']} {failed[k]['Message']}"
            )
            if (k := self._key(p)) in failed
            else None
            for p in paths
        ]


def _rebuild(bucket: str, prefix: str, storage_options: dict) -> S3Store:
    return S3Store(bucket, prefix, **storage_options)

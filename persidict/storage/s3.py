"""S3Store: bytes under ``s3://bucket/prefix``, one HTTP request per operation.

Talks to S3 through s3fs's aiobotocore client directly, never through
s3fs's listing cache, so a write by another machine is visible at once.
Exclusive create is ``PUT If-None-Match: *``; compare-and-swap is
``PUT``/``DELETE`` with ``If-Match: <etag>``.

Exact under faults (see ``s3_faults``): botocore's own retries are off.
Idempotent requests are retried here on transient failures, with jittered
back-off bounded in count (``max_attempts``) and time (``request_timeout``).
A conditional request is resent only when it surely was not applied; when
its reply is lost, its outcome is found out by reading back the write id
that every PUT carries in its metadata (or OutcomeUnknownError says it
cannot be). Every request goes through :meth:`S3Store._attempt`, which
applies the user's s3fs options (``s3_additional_kwargs``, requester pays).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from typing import Any, BinaryIO

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from fsspec.asyn import sync
from fsspec.exceptions import FSTimeoutError

from persidict.errors import OutcomeUnknownError
from persidict.storage import s3_faults as faults
from persidict.storage import s3_stream
from persidict.storage.base import (
    TEMP_PREFIX,
    ByteStore,
    Entry,
    Payload,
    PreconditionFailed,
    RootNotFoundError,
    is_temp_name,
)
from persidict.storage.s3_faults import (
    AFTER,
    WRITE_ID,
    ConditionalWritesUnsupportedError,
    S3Error,
    S3TimeoutError,
    Version,
)
from persidict.storage.s3_workers import reduce_store, remember

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT = 8.0
"""Default ``request_timeout``: seconds one request may wait for the server.

An operation starts no new attempt once 1.5 times this has passed (2.5 times
for the read-back that settles a conditional write's lost reply), so against a
silent endpoint ``get``/``set`` fail within 2 x 8 = 16 s, conditional
operations within 3 x 8 = 24 s."""
MAX_ATTEMPTS = 5
MULTIPART_ABOVE = 16 << 20
"""Values above this size upload in parts, committed at once by CompleteMultipartUpload."""
PART_SIZE = 16 << 20
SINGLE_PUT_MAX = 5 << 30  # S3's limit for one PUT
MTIME = "mtime"
"""User-metadata name of a modification time set by ``set_mtime`` (seconds, as rclone)."""
EXPECT_CONTINUE_ABOVE = 1 << 20
"""PUT bodies up to this size go without ``Expect: 100-continue``: one round trip."""
_MISSING = {"NoSuchKey", "404", "NotFound"}
_DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "403",
    "ExpiredToken",
    "InvalidToken",
}
_DELETE_BATCH = 1000  # S3's limit for one DeleteObjects
_SEEN = 4096  # versions remembered per store, to chain conditional writes
_PROBE_PREFIX = f"{TEMP_PREFIX}persidict-probe-"  # a store's own name: never listed
_CONDITIONAL_SUPPORT: dict[tuple[str, str], bool] = {}  # (endpoint, bucket) -> probed answer


class NotModified(Exception):
    """A conditional GET found the ETag unchanged (HTTP 304)."""


class _Resend(Exception):
    """Resolution found that a conditional request was not applied: send it again."""


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

    max_workers = 64
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
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.request_timeout = float(storage_options.get("request_timeout", REQUEST_TIMEOUT))
        self.max_attempts = max(1, int(storage_options.get("max_attempts", MAX_ATTEMPTS)))
        self._fs = None
        self._pid = None
        self._seen: dict[tuple[str, str], Version] = {}
        if create_bucket:
            self._create_bucket()
        remember(self)

    def __reduce__(self):
        return reduce_store(self)

    @property
    def fs(self):
        """The s3fs filesystem, rebuilt after a fork (its event loop is per process)."""
        if self._fs is None or self._pid != os.getpid():
            import s3fs

            from persidict.moto_compat import s3fs_options

            options = s3fs_options(
                {
                    k: v
                    for k, v in self.storage_options.items()
                    if k not in ("request_timeout", "max_attempts", "ship_credentials")
                }
            )
            timeout = self.request_timeout
            config = {
                "connect_timeout": min(5.0, timeout),
                "read_timeout": timeout,
                **options.pop("config_kwargs", {}),
                "retries": {"total_max_attempts": 1},  # retried here, knowing what is safe
            }
            self._fs = s3fs.S3FileSystem(config_kwargs=config, skip_instance_cache=True, **options)
            self._pid = os.getpid()
        return self._fs

    def _key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix and path else self.prefix or path

    def _relative(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def _where(self, path: str = "") -> str:
        return f"s3://{self.bucket}/{self._key(path)}"

    # plumbing: one attempt, retries, errors
    def _run(self, coro_fn, *args):
        try:
            return sync(self.fs.loop, coro_fn, *args)
        except FSTimeoutError as exc:  # fsspec renames every TimeoutError; ours names the path
            if isinstance(exc.__cause__, S3TimeoutError):
                raise exc.__cause__ from exc.__cause__.__cause__
            raise

    async def _client(self):
        client = await self.fs.set_session()
        if not getattr(client, "_persidict_hooks", False):
            client.meta.events.register("before-send.s3.PutObject", _one_round_trip)
            _no_blind_resend(client._endpoint.http_session)
            client._persidict_hooks = True
        return client

    async def _attempt(self, method: str, **kwargs: Any) -> dict:
        """Send one request with the user's options; a GET's body is read into ``Data``."""
        client = await self._client()
        call = getattr(client, method)
        if hasattr(kwargs.get("Body"), "seek"):
            kwargs["Body"].seek(0)  # a resend sends the whole file again
        params = self.fs._get_s3_method_kwargs(call, Bucket=self.bucket, **kwargs)
        if "Metadata" in kwargs and "Metadata" in self.fs.s3_additional_kwargs:
            params["Metadata"] = {**self.fs.s3_additional_kwargs["Metadata"], **kwargs["Metadata"]}
        resp = await call(**params)  # botocore's connect and read timeouts bound the wait
        if method == "get_object":
            body = resp["Body"]
            try:
                resp["Data"] = await body.read()
            finally:
                body.close()
        return resp

    async def _request(
        self, method: str, path: str | None = None, *, until: float | None = None, **kwargs: Any
    ) -> dict:
        """An idempotent request, retried on transient failures within the bounds.

        No attempt starts after ``until`` (monotonic; default 1.5 request
        timeouts from now), so a silent endpoint fails within two timeouts.
        """
        attempts = self.max_attempts if until is None else 2 * self.max_attempts
        until = until or time.monotonic() + 1.5 * self.request_timeout
        for attempt in range(attempts):
            try:
                return await self._attempt(method, **kwargs)
            except Exception as exc:
                if not (faults.transient(exc) and attempt + 1 < attempts):
                    raise self._error(exc, path, method) from exc
                if time.monotonic() + faults.pause(attempt) >= until:
                    raise self._error(exc, path, method) from exc
                await asyncio.sleep(faults.pause(attempt, exc))
        raise AssertionError("unreachable")

    def _retry(self, exc: BaseException, attempt: int, start: float) -> bool:
        if not faults.transient(exc):
            return False
        budget = 1.5 * self.request_timeout
        return attempt + 1 < self.max_attempts and time.monotonic() - start < budget

    def _error(self, exc: BaseException, path: str | None, method: str) -> BaseException:
        """The OSError (naming the s3:// path) that ``exc`` means to a dict user."""
        where = self._where(path or "")
        if isinstance(exc, ClientError):
            return self._translate(exc, path)
        if faults.never_sent(exc):
            return ConnectionError(f"cannot reach S3 endpoint for {where}: {exc}")
        if isinstance(exc, NoCredentialsError):
            return PermissionError(f"no S3 credentials for {where}: {exc}")
        if isinstance(exc, OSError) and not faults.unknown_outcome(exc):
            return exc
        if isinstance(exc, asyncio.TimeoutError) or "timeout" in type(exc).__name__.lower():
            return S3TimeoutError(
                f"S3 {method} for {where}: no answer within {self.request_timeout:g} s "
                "(storage option request_timeout)",
                code="Timeout",
                operation=method,
            )
        if isinstance(exc, BotoCoreError) or faults.unknown_outcome(exc):
            return S3Error(
                f"S3 {method} for {where} failed after retries: {type(exc).__name__}: {exc}",
                operation=method,
            )
        return exc

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
        return S3Error(
            f"S3 error {code} at {where}: {error.get('Message', exc)}",
            code=code,
            operation=exc.operation_name,
        )

    def _create_bucket(self) -> None:
        """Make the bucket if a HEAD says it is missing; a 403 means it exists elsewhere."""

        async def make():
            try:
                await self._request("head_bucket")
                return
            except PermissionError:
                return  # someone else's bucket, maybe shared with us by a policy
            except (FileNotFoundError, RootNotFoundError):
                pass
            client = await self._client()
            region = client.meta.region_name
            where = {}
            if region and region != "us-east-1":
                where = {"CreateBucketConfiguration": {"LocationConstraint": region}}
            try:
                await self._request("create_bucket", **where)
            except OSError as exc:
                if "BucketAlreadyOwnedByYou" not in str(exc) and "BucketAlreadyExists" not in str(
                    exc
                ):
                    raise

        self._run(make)

    # versions seen, so that a write can name the version it replaces
    def _remember(self, path: str, version: Version) -> Version:
        seen = self._seen
        if len(seen) >= _SEEN:
            del seen[next(iter(seen))]
        seen[(path, version.etag)] = version
        return version

    async def _head(self, path: str, until: float | None = None) -> Version | None:
        try:
            resp = await self._request("head_object", path, until=until, Key=self._key(path))
        except FileNotFoundError:
            return None
        return self._remember(path, Version.of(resp))

    # reading
    async def _get(self, path: str, **conditions: Any) -> tuple[bytes, str]:
        resp = await self._request("get_object", path, Key=self._key(path), **conditions)
        return resp["Data"], self._remember(path, Version.of(resp)).etag

    def read(self, path: str) -> bytes:
        return self._run(self._get, path)[0]

    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        return self._run(self._get, path)

    def read_if_changed(self, path: str, etag: str) -> tuple[bytes | None, str]:
        try:
            return self._run(lambda: self._get(path, IfNoneMatch=f'"{etag}"'))
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
        return self._run(self._get_range, path, start, end, etag)

    async def _first(self, path: str, limit: int) -> tuple[bytes, int, str]:
        """The first ``limit`` bytes, the size and the ETag, in one GET."""
        try:
            resp = await self._request(
                "get_object", path, Key=self._key(path), Range=f"bytes=0-{max(limit, 1) - 1}"
            )
        except S3Error as exc:
            if exc.code != "InvalidRange":  # an empty object has no byte 0
                raise
            resp = await self._request("get_object", path, Key=self._key(path))
        version = self._remember(path, Version.of(resp))
        total = resp.get("ContentRange", "").rpartition("/")[2]
        return resp["Data"], int(total) if total.isdigit() else len(resp["Data"]), version.etag

    def read_or_open(self, path: str, limit: int) -> bytes | BinaryIO:
        """One GET of the first ``limit`` bytes: all of them, or a file reading on from there."""
        data, size, etag = self._run(self._first, path, limit)
        if size <= len(data):
            return data
        return s3_stream.open_ranged(self, path, size, etag, data)

    def open_read(self, path: str) -> BinaryIO:
        """A file of one version: ranged GETs pinned by If-Match, read-ahead, parallel reads."""
        got = self.read_or_open(path, s3_stream.READ_AHEAD)
        return io.BytesIO(got) if isinstance(got, (bytes, bytearray)) else got

    def info(self, path: str) -> Entry:
        resp = self._run(lambda: self._request("head_object", path, Key=self._key(path)))
        self._remember(path, Version.of(resp))
        mtime = (resp.get("Metadata") or {}).get(MTIME)
        return Entry(
            path,
            resp["ContentLength"],
            float(mtime) if mtime else resp["LastModified"].timestamp(),
            resp["ETag"].strip('"'),
        )

    def set_mtime(self, path: str, mtime: float) -> None:
        """Store ``mtime`` as user metadata (as rclone does) by a CopyObject in place."""
        self._run(self._set_mtime, path, mtime)

    async def _set_mtime(self, path: str, mtime: float) -> None:
        key = self._key(path)
        resp = await self._request("head_object", path, Key=key)
        now = self._remember(path, Version.of(resp))
        meta = dict(resp.get("Metadata") or {})
        meta.update({MTIME: repr(float(mtime)), WRITE_ID: faults.new_write_id()})
        meta[AFTER] = faults.chain_after(now, now.etag)
        await self._request(
            "copy_object",
            path,
            Key=key,
            CopySource={"Bucket": self.bucket, "Key": key},
            CopySourceIfMatch=f'"{now.etag}"',
            Metadata=meta,
            MetadataDirective="REPLACE",
        )

    # empty folders: a zero-byte "name/" marker, as S3 consoles make
    def make_folder(self, path: str) -> None:
        if self.exists(path):
            raise FileExistsError(f"{self._where(path)} is a file, not a folder")
        self._run(lambda: self._request("put_object", path, Key=self._key(path) + "/", Body=b""))

    def remove_folder(self, path: str) -> None:
        page = self._run(
            lambda: self._request("list_objects_v2", path, Prefix=self._folder(path), MaxKeys=2)
        )
        keys = [o["Key"] for o in page.get("Contents", ())]
        if any(k != self._folder(path) for k in keys):
            raise OSError(errno.ENOTEMPTY, f"{self._where(path)} is not empty")
        self._run(lambda: self._request("delete_object", path, Key=self._folder(path)))

    # writing
    def _body(self, data: Payload) -> bytes | bytearray | BinaryIO:
        """Bytes for one PUT, or a spooled file to upload in parts (above MULTIPART_ABOVE)."""
        body = self._spool(data)
        if isinstance(body, (bytes, bytearray, memoryview)):
            return bytes(body) if isinstance(body, memoryview) else body
        size = body.seek(0, os.SEEK_END)
        body.seek(0)
        if size > MULTIPART_ABOVE:
            return body
        with body:
            return body.read()

    async def _put(self, path: str, data: Payload) -> str:
        write_id = faults.new_write_id()
        body = self._body(data)
        if not isinstance(body, (bytes, bytearray)):

            async def resolve(now: Version | None) -> dict:
                if now is not None and now.write_id == write_id:
                    return {"ETag": now.etag}
                raise _Resend  # a plain write: completing it again is harmless

            meta = {WRITE_ID: write_id}
            resp = await self._multipart(path, body, meta, resolve, {}, probe=False)
            return self._remember(path, Version(resp["ETag"].strip('"'), write_id, ())).etag
        resp = await self._request(
            "put_object", path, Key=self._key(path), Body=body, Metadata={WRITE_ID: write_id}
        )
        return self._remember(path, Version(resp["ETag"].strip('"'), write_id, ())).etag

    def write(self, path: str, data: Payload) -> str:
        return self._run(self._put, path, data)

    async def _multipart(
        self, path: str, body: BinaryIO, meta: dict, resolve, conditions: dict, probe: bool = True
    ) -> dict:
        """Upload ``body`` in parts, then commit it at once (CompleteMultipartUpload).

        The commit carries ``conditions`` (If-None-Match / If-Match), so a big
        create or compare-and-swap is as atomic as a small one; nothing is
        visible before it.
        """
        key = self._key(path)
        with body:
            upload = await self._request("create_multipart_upload", path, Key=key, Metadata=meta)
            upload_id = upload["UploadId"]
            parts, number = [], 1
            try:
                while chunk := body.read(PART_SIZE):
                    part = await self._request(
                        "upload_part",
                        path,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=chunk,
                    )
                    parts.append({"ETag": part["ETag"], "PartNumber": number})
                    number += 1
                return await self._commit(
                    "complete_multipart_upload",
                    path,
                    resolve,
                    probe=probe,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    **conditions,
                )
            except BaseException:
                with suppress(Exception):
                    await self._attempt("abort_multipart_upload", Key=key, UploadId=upload_id)
                raise

    async def _send_put(self, path: str, body, meta: dict, resolve, **conditions: Any) -> dict:
        """A conditional PUT of ``body``: one request, or parts and a conditional commit.

        A big compare-and-swap streams as one PUT (S3 takes up to 5 GB so):
        servers differ in honouring If-Match on CompleteMultipartUpload (moto
        ignores it), while every server that passes the probe honours it on PUT.
        """
        if isinstance(body, (bytes, bytearray)) or (
            "IfMatch" in conditions and _size(body) <= SINGLE_PUT_MAX
        ):
            try:
                return await self._commit(
                    "put_object", path, resolve, Body=body, Metadata=meta, **conditions
                )
            finally:
                if not isinstance(body, (bytes, bytearray)):
                    body.close()
        return await self._multipart(path, body, meta, resolve, conditions)

    async def _commit(
        self, method: str, path: str, resolve, *, probe: bool = True, **kwargs: Any
    ) -> dict:
        """A conditional request: resent only when surely not applied, else resolved.

        ``resolve(version or None)`` looks at what is stored after an unknown
        outcome: returns the answer, raises ``_Resend`` if the request was not
        applied, or raises PreconditionFailed / OutcomeUnknownError.
        """
        if probe:
            await self._require_conditional()
        start = time.monotonic()
        uncertain = False  # an earlier attempt may have been applied
        for attempt in range(self.max_attempts):
            try:
                return await self._attempt(method, Key=self._key(path), **kwargs)
            except Exception as exc:
                if faults.never_sent(exc) or faults.refused(exc):  # surely not applied
                    if self._retry(exc, attempt, start):
                        await asyncio.sleep(faults.pause(attempt, exc))
                        continue
                    if not uncertain:
                        raise self._error(exc, path, method) from exc
                elif faults.unknown_outcome(exc):
                    uncertain = True
                elif not (uncertain and isinstance(exc, ClientError)):
                    # a definite answer to our only attempt (412, 404, 403, ...)
                    raise self._error(exc, path, method) from exc
                # else: refused, maybe because our own earlier attempt was applied
                if time.monotonic() - start > 1.5 * self.request_timeout:
                    raise self._unknown(path, method, exc) from exc
            try:
                # Finding out is worth more tries than a plain request gets.
                return await resolve(await self._head(path, start + 2.5 * self.request_timeout))
            except _Resend:
                await asyncio.sleep(faults.pause(attempt))
            except (OutcomeUnknownError, PreconditionFailed):
                raise
            except OSError as exc:  # the read-back itself failed
                raise self._unknown(path, method, exc) from exc
        raise self._unknown(path, method, None)

    def _unknown(self, path: str, method: str, cause: BaseException | None) -> Exception:
        why = f": {type(cause).__name__}: {cause}" if cause else ""
        return OutcomeUnknownError(
            f"S3 {method} at {self._where(path)}: the reply was lost and what is stored "
            f"now cannot tell whether it was applied{why}; read the key to see its value",
            backend="s3",
            operation=method,
        )

    async def _create(self, path: str, data: Payload) -> str | None:
        write_id = faults.new_write_id()
        body = self._body(data)

        async def resolve(now: Version | None) -> dict:
            if now is None:
                raise _Resend
            if now.write_id == write_id or now.follows(write_id):
                return {"ETag": now.etag if now.write_id == write_id else _md5(body)}
            # Another writer's version: ours was not applied (or was replaced by a
            # write that does not chain, which only a non-persidict writer makes).
            raise PreconditionFailed(f"{self._where(path)} exists")

        try:
            resp = await self._send_put(path, body, {WRITE_ID: write_id}, resolve, IfNoneMatch="*")
        except PreconditionFailed:
            return None
        return self._remember(path, Version(resp["ETag"].strip('"'), write_id, ())).etag

    def create(self, path: str, data: Payload) -> str | None:
        return self._run(self._create, path, data)

    async def _write_if(self, path: str, data: Payload, etag: str) -> str:
        write_id = faults.new_write_id()
        body = self._body(data)
        parent = self._seen.get((path, etag))
        after = faults.chain_after(parent, etag)
        parent_mark = after.split()[0]

        async def resolve(now: Version | None) -> dict:
            if now is None:
                raise self._unknown(path, "put_object (If-Match)", None)
            if now.write_id == write_id or now.follows(write_id):
                return {"ETag": now.etag if now.write_id == write_id else _md5(body)}
            if now.etag == etag and (parent is None or now.write_id == parent.write_id):
                raise _Resend
            if now.follows(parent_mark):
                raise PreconditionFailed(f"{self._where(path)} was changed by another writer")
            raise self._unknown(path, "put_object (If-Match)", None)

        try:
            meta = {WRITE_ID: write_id, AFTER: after}
            resp = await self._send_put(path, body, meta, resolve, IfMatch=f'"{etag}"')
        except FileNotFoundError:
            raise PreconditionFailed(f"{self._where(path)} is absent") from None
        version = Version(resp["ETag"].strip('"'), write_id, tuple(after.split()))
        return self._remember(path, version).etag

    def write_if(self, path: str, data: Payload, etag: str) -> str:
        return self._run(self._write_if, path, data, etag)

    def delete(self, path: str) -> None:
        # S3's DELETE succeeds on absent keys; the HEAD gives KeyError semantics.
        self._run(self._delete, path)

    async def _delete(self, path: str) -> None:
        await self._request("head_object", path, Key=self._key(path))
        await self._request("delete_object", path, Key=self._key(path))

    async def _delete_if(self, path: str, etag: str) -> None:
        parent = self._seen.get((path, etag))
        parent_mark = faults.chain_after(parent, etag).split()[0]

        async def resolve(now: Version | None) -> dict:
            if now is None:  # removed: by us, or by another remover before us
                raise self._unknown(path, "delete_object (If-Match)", None)
            if now.etag == etag and (parent is None or now.write_id == parent.write_id):
                raise _Resend
            if now.follows(parent_mark):
                raise PreconditionFailed(f"{self._where(path)} was changed by another writer")
            raise self._unknown(path, "delete_object (If-Match)", None)

        try:
            await self._commit("delete_object", path, resolve, IfMatch=f'"{etag}"')
        except FileNotFoundError:
            raise PreconditionFailed(f"{self._where(path)} is absent") from None

    def delete_if(self, path: str, etag: str) -> None:
        self._run(self._delete_if, path, etag)

    # servers that ignore conditional headers
    async def _require_conditional(self) -> None:
        """Refuse conditional requests on an endpoint that ignores them (probed once)."""
        client = await self._client()
        where = (str(client.meta.endpoint_url), self.bucket)
        supported = _CONDITIONAL_SUPPORT.get(where)
        if supported is None:
            supported = _CONDITIONAL_SUPPORT[where] = await self._probe()
        if not supported:
            raise ConditionalWritesUnsupportedError(
                f"S3 endpoint {where[0]} (bucket {self.bucket!r}, {self.url}) ignores "
                "conditional headers (If-None-Match/If-Match): setdefault, pop, append-only "
                "writes, transform_item and the *_if operations would be silently wrong "
                "there, so they are refused; plain get/set/del work",
                code="ConditionalWritesUnsupported",
                operation="probe",
            )

    async def _probe(self) -> bool:
        """Does the server refuse a PUT If-None-Match over an existing object?

        The probe object lives outside the store's folder, under a name no
        listing shows (it carries the temp mark), and is deleted at once.
        """
        key = f"{_PROBE_PREFIX}{faults.new_write_id()}"
        first = await self._request("put_object", None, Key=key, Body=b"probe")
        checks: list[dict[str, Any]] = [
            {"IfNoneMatch": "*", "Body": b"again"},
            {"IfMatch": '"0123456789abcdef0123456789abcdef"', "Body": b"again"},
        ]
        refused = 0
        try:
            for extra in checks:
                try:
                    await self._request("put_object", None, Key=key, **extra)
                except PreconditionFailed:
                    refused += 1
        finally:
            await self._request("delete_object", None, Key=key)
        supported = refused == len(checks)
        logger.info(
            "S3 endpoint for %s %s conditional writes (probe ETag %s)",
            self.url,
            "supports" if supported else "IGNORES",
            first.get("ETag"),
        )
        return supported

    def check_conditional_writes(self) -> None:
        """Probe now whether the server honours conditional writes (else raise)."""
        self._run(self._require_conditional)

    # listing
    def _folder(self, prefix: str) -> str:
        key = self._key(prefix)
        return f"{key}/" if key else ""

    def _pages(self, **kwargs: Any) -> Iterator[dict]:
        token = None
        while True:
            extra: dict[str, Any] = {"ContinuationToken": token} if token else {}
            page = self._run(
                lambda extra=extra: self._request(
                    "list_objects_v2", kwargs.get("Prefix"), **kwargs, **extra
                )
            )
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

    def walk_with_folders(self, prefix: str = "") -> Iterator[Entry | str]:
        """Files, and the empty folders' ``name/`` markers (as folder paths)."""
        for page in self._pages(Prefix=self._folder(prefix)):
            for obj in page.get("Contents", ()):
                folder = self._relative(obj["Key"]).removesuffix("/")
                marker = obj["Key"].endswith("/") and folder and folder != prefix
                if marker and not is_temp_name(folder.rpartition("/")[2]):
                    yield folder
            yield from self._entries(page)

    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        files: list[Entry] = []
        dirs: list[str] = []
        folder = self._folder(prefix)
        for page in self._pages(Prefix=folder, Delimiter="/"):
            files.extend(self._entries(page))
            for common in page.get("CommonPrefixes", ()):
                name = common["Prefix"][len(folder) :].rstrip("/")
                if not is_temp_name(name):
                    dirs.append(name)
        return files, dirs

    def is_empty(self, prefix: str = "") -> bool:
        page = self._run(
            lambda: self._request("list_objects_v2", prefix, Prefix=self._folder(prefix), MaxKeys=1)
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

    def write_many(self, items: Mapping[str, Payload]) -> list[str | BaseException]:
        return self._gather(lambda kv: self._put(*kv), list(items.items()))

    def create_many(self, items: Mapping[str, Payload]) -> list[str | BaseException | None]:
        return self._gather(lambda kv: self._create(*kv), list(items.items()))

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
        return self._gather(self._delete, paths)

    async def _delete_objects(self, paths: list[str]) -> list[BaseException | None]:
        objects = [{"Key": self._key(p)} for p in paths]
        resp = await self._request(
            "delete_objects", paths[0], Delete={"Objects": objects, "Quiet": True}
        )
        failed = {e["Key"]: e for e in resp.get("Errors", ())}
        return [
            S3Error(
                f"S3 could not delete {self._where(p)}: {failed[k]['Code']} {failed[k]['Message']}",
                code=failed[k]["Code"],
                operation="DeleteObjects",
            )
            if (k := self._key(p)) in failed
            else None
            for p in paths
        ]


def _size(body: BinaryIO) -> int:
    here = body.tell()
    size = body.seek(0, os.SEEK_END)
    body.seek(here)
    return size


def _md5(body: Any) -> str:
    """The ETag S3 gives a single-part upload (a multipart one has another form)."""
    if not isinstance(body, (bytes, bytearray)):
        return ""
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def _no_blind_resend(http_session: Any) -> None:
    """Stop aiohttp from resending a PUT/DELETE whose connection broke (RFC 9112 9.3.1).

    aiohttp resends "idempotent" methods once on a broken keep-alive
    connection; a conditional PUT or DELETE is not idempotent, and a resend
    of one that was applied reports the wrong outcome. The store decides.
    """
    get_session = http_session._get_session

    async def without_resend(*args: Any, **kwargs: Any) -> Any:
        session = await get_session(*args, **kwargs)
        session._retry_connection = False
        return session

    http_session._get_session = without_resend


def _one_round_trip(request, **kwargs: Any) -> None:
    """Send small PUT bodies at once: ``Expect: 100-continue`` costs a round trip."""
    if "Expect" not in request.headers:
        return
    body = request.body
    size = len(body) if isinstance(body, (bytes, bytearray)) else None
    if size is None and hasattr(body, "seek") and hasattr(body, "tell"):
        here = body.tell()
        size = body.seek(0, os.SEEK_END) - here
        body.seek(here)
    if size is not None and size <= EXPECT_CONTINUE_ABOVE:
        del request.headers["Expect"]


__all__ = [
    "ConditionalWritesUnsupportedError",
    "OutcomeUnknownError",
    "S3Error",
    "S3Store",
    "S3TimeoutError",
]

"""Writes to S3: plain and conditional PUTs, multipart uploads, conditional deletes.

Exclusive create is ``PUT If-None-Match: *``; compare-and-swap is
``PUT``/``DELETE`` with ``If-Match: <etag>``. A value above
``MULTIPART_ABOVE`` uploads in parts, committed at once (with the same
conditions) by CompleteMultipartUpload, so nothing is visible before it.

A conditional request is resent only when it surely was not applied; when
its reply is lost, its outcome is found out by reading back the write id that
every PUT carries in its metadata, and the ids of the versions it replaced
(see ``s3_faults``), or :class:`OutcomeUnknownError` says it cannot be.
Conditional requests are refused on a server that ignores their headers
(probed once per endpoint and bucket).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, BinaryIO

from botocore.exceptions import ClientError

from persidict.errors import OutcomeUnknownError
from persidict.storage import s3_faults as faults
from persidict.storage.base import TEMP_PREFIX, Payload, PreconditionFailed, spool_payload
from persidict.storage.s3_faults import (
    AFTER,
    WRITE_ID,
    ConditionalWritesUnsupportedError,
    SeenVersions,
    Version,
)
from persidict.storage.s3_requests import S3Requests

logger = logging.getLogger("persidict.storage.s3")  # the store's log, where users look

MULTIPART_ABOVE = 16 << 20
"""Values above this size upload in parts, committed at once by CompleteMultipartUpload."""
PART_SIZE = 16 << 20
SINGLE_PUT_MAX = 5 << 30  # S3's limit for one PUT
_PROBE_PREFIX = f"{TEMP_PREFIX}persidict-probe-"  # a store's own name: never listed
_CONDITIONAL_SUPPORT: dict[tuple[str, str], bool] = {}  # (endpoint, bucket) -> probed answer

Body = bytes | bytearray | BinaryIO
Resolve = Callable[[Version | None], Awaitable[dict]]
"""Looks at what is stored after an unknown outcome (see :meth:`S3Commits._commit`)."""


class _Resend(Exception):
    """Resolution found that a conditional request was not applied: send it again."""


def upload_body(data: Payload) -> Body:
    """Bytes for one PUT, or a spooled file to upload in parts (above MULTIPART_ABOVE)."""
    body = spool_payload(data)
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body) if isinstance(body, memoryview) else body
    size = body.seek(0, os.SEEK_END)
    body.seek(0)
    if size > MULTIPART_ABOVE:
        return body
    with body:
        return body.read()


class S3Commits:
    """The writes of one store, sent through ``requests``; ``seen`` chains its versions."""

    def __init__(self, requests: S3Requests, seen: SeenVersions) -> None:
        self.requests = requests
        self.seen = seen

    async def put(self, path: str, data: Payload) -> str:
        """Store ``data`` at ``path`` unconditionally; the new ETag."""
        write_id = faults.new_write_id()
        body = upload_body(data)
        if not isinstance(body, (bytes, bytearray)):

            async def resolve(now: Version | None) -> dict:
                if now is not None and now.write_id == write_id:
                    return {"ETag": now.etag}
                raise _Resend  # a plain write: completing it again is harmless

            meta = {WRITE_ID: write_id}
            resp = await self._multipart(path, body, meta, resolve, {}, probe=False)
            return self._stored(path, resp, write_id, ())
        resp = await self.requests.request(
            "put_object",
            path,
            Key=self.requests.key(path),
            Body=body,
            Metadata={WRITE_ID: write_id},
        )
        return self._stored(path, resp, write_id, ())

    async def create(self, path: str, data: Payload) -> str | None:
        """Store ``data`` only if ``path`` is absent; the new ETag, or None if it was there."""
        write_id = faults.new_write_id()
        body = upload_body(data)

        async def resolve(now: Version | None) -> dict:
            if now is None:
                raise _Resend
            if now.write_id == write_id or now.follows(write_id):
                return {"ETag": now.etag if now.write_id == write_id else _md5(body)}
            # Another writer's version: ours was not applied (or was replaced by a
            # write that does not chain, which only a non-persidict writer makes).
            raise PreconditionFailed(f"{self.requests.where(path)} exists")

        try:
            resp = await self._send_put(path, body, {WRITE_ID: write_id}, resolve, IfNoneMatch="*")
        except PreconditionFailed:
            return None
        return self._stored(path, resp, write_id, ())

    async def write_if(self, path: str, data: Payload, etag: str) -> str:
        """Replace the bytes at ``path`` only if its ETag is ``etag``; else PreconditionFailed."""
        write_id = faults.new_write_id()
        body = upload_body(data)
        parent = self.seen.get(path, etag)
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
                raise PreconditionFailed(
                    f"{self.requests.where(path)} was changed by another writer"
                )
            raise self._unknown(path, "put_object (If-Match)", None)

        try:
            meta = {WRITE_ID: write_id, AFTER: after}
            resp = await self._send_put(path, body, meta, resolve, IfMatch=f'"{etag}"')
        except FileNotFoundError:
            raise PreconditionFailed(f"{self.requests.where(path)} is absent") from None
        return self._stored(path, resp, write_id, tuple(after.split()))

    async def delete_if(self, path: str, etag: str) -> None:
        """Remove ``path`` only if its ETag is ``etag``; else PreconditionFailed."""
        parent = self.seen.get(path, etag)
        parent_mark = faults.chain_after(parent, etag).split()[0]

        async def resolve(now: Version | None) -> dict:
            if now is None:  # removed: by us, or by another remover before us
                raise self._unknown(path, "delete_object (If-Match)", None)
            if now.etag == etag and (parent is None or now.write_id == parent.write_id):
                raise _Resend
            if now.follows(parent_mark):
                raise PreconditionFailed(
                    f"{self.requests.where(path)} was changed by another writer"
                )
            raise self._unknown(path, "delete_object (If-Match)", None)

        try:
            await self._commit("delete_object", path, resolve, IfMatch=f'"{etag}"')
        except FileNotFoundError:
            raise PreconditionFailed(f"{self.requests.where(path)} is absent") from None

    def _stored(self, path: str, resp: dict, write_id: str, after: tuple[str, ...]) -> str:
        """Remember the version a write made; its ETag."""
        version = Version(resp["ETag"].strip('"'), write_id, after)
        return self.seen.remember(path, version).etag

    # sending a write
    async def _send_put(
        self, path: str, body: Body, meta: dict, resolve: Resolve, **conditions: Any
    ) -> dict:
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

    async def _multipart(
        self,
        path: str,
        body: BinaryIO,
        meta: dict,
        resolve: Resolve,
        conditions: dict,
        probe: bool = True,
    ) -> dict:
        """Upload ``body`` in parts, then commit it at once (CompleteMultipartUpload).

        The commit carries ``conditions`` (If-None-Match / If-Match), so a big
        create or compare-and-swap is as atomic as a small one; nothing is
        visible before it.
        """
        request = self.requests.request
        key = self.requests.key(path)
        with body:
            upload = await request("create_multipart_upload", path, Key=key, Metadata=meta)
            upload_id = upload["UploadId"]
            parts, number = [], 1
            try:
                while chunk := body.read(PART_SIZE):
                    part = await request(
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
                    await self.requests.attempt(
                        "abort_multipart_upload", Key=key, UploadId=upload_id
                    )
                raise

    async def _commit(
        self, method: str, path: str, resolve: Resolve, *, probe: bool = True, **kwargs: Any
    ) -> dict:
        """A conditional request: resent only when surely not applied, else resolved.

        ``resolve(version or None)`` looks at what is stored after an unknown
        outcome: returns the answer, raises ``_Resend`` if the request was not
        applied, or raises PreconditionFailed / OutcomeUnknownError.
        """
        if probe:
            await self.require_conditional()
        requests = self.requests
        start = time.monotonic()
        uncertain = False  # an earlier attempt may have been applied
        for attempt in range(requests.max_attempts):
            try:
                return await requests.attempt(method, Key=requests.key(path), **kwargs)
            except Exception as exc:
                if faults.never_sent(exc) or faults.refused(exc):  # surely not applied
                    if requests.may_retry(exc, attempt, start):
                        await asyncio.sleep(faults.pause(attempt, exc))
                        continue
                    if not uncertain:
                        raise requests.error(exc, path, method) from exc
                elif faults.unknown_outcome(exc):
                    uncertain = True
                elif not (uncertain and isinstance(exc, ClientError)):
                    # a definite answer to our only attempt (412, 404, 403, ...)
                    raise requests.error(exc, path, method) from exc
                # else: refused, maybe because our own earlier attempt was applied
                if time.monotonic() - start > 1.5 * requests.request_timeout:
                    raise self._unknown(path, method, exc) from exc
            try:
                # Finding out is worth more tries than a plain request gets.
                return await resolve(await self._head(path, start + 2.5 * requests.request_timeout))
            except _Resend:
                await asyncio.sleep(faults.pause(attempt))
            except (OutcomeUnknownError, PreconditionFailed):
                raise
            except OSError as exc:  # the read-back itself failed
                raise self._unknown(path, method, exc) from exc
        raise self._unknown(path, method, None)

    async def _head(self, path: str, until: float) -> Version | None:
        """The stored version at ``path`` (None if absent), read back within ``until``."""
        try:
            resp = await self.requests.request(
                "head_object", path, until=until, Key=self.requests.key(path)
            )
        except FileNotFoundError:
            return None
        return self.seen.remember(path, Version.of(resp))

    def _unknown(self, path: str, method: str, cause: BaseException | None) -> Exception:
        why = f": {type(cause).__name__}: {cause}" if cause else ""
        return OutcomeUnknownError(
            f"S3 {method} at {self.requests.where(path)}: the reply was lost and what is stored "
            f"now cannot tell whether it was applied{why}; read the key to see its value",
            backend="s3",
            operation=method,
        )

    # servers that ignore conditional headers
    async def require_conditional(self) -> None:
        """Refuse conditional requests on an endpoint that ignores them (probed once)."""
        requests = self.requests
        client = await requests.client()
        where = (str(client.meta.endpoint_url), requests.bucket)
        supported = _CONDITIONAL_SUPPORT.get(where)
        if supported is None:
            supported = _CONDITIONAL_SUPPORT[where] = await self._probe()
        if not supported:
            raise ConditionalWritesUnsupportedError(
                f"S3 endpoint {where[0]} (bucket {requests.bucket!r}, {requests.url}) "
                "ignores conditional headers (If-None-Match/If-Match): setdefault, pop, "
                "append-only writes, transform_item and the *_if operations would be silently "
                "wrong there, so they are refused; plain get/set/del work",
                code="ConditionalWritesUnsupported",
                operation="probe",
            )

    async def _probe(self) -> bool:
        """Does the server refuse a PUT If-None-Match over an existing object?

        The probe object lives outside the store's folder, under a name no
        listing shows (it carries the temp mark), and is deleted at once.
        """
        request = self.requests.request
        key = f"{_PROBE_PREFIX}{faults.new_write_id()}"
        first = await request("put_object", None, Key=key, Body=b"probe")
        checks: list[dict[str, Any]] = [
            {"IfNoneMatch": "*", "Body": b"again"},
            {"IfMatch": '"0123456789abcdef0123456789abcdef"', "Body": b"again"},
        ]
        refused = 0
        try:
            for extra in checks:
                try:
                    await request("put_object", None, Key=key, **extra)
                except PreconditionFailed:
                    refused += 1
        finally:
            await request("delete_object", None, Key=key)
        supported = refused == len(checks)
        logger.info(
            "S3 endpoint for %s %s conditional writes (probe ETag %s)",
            self.requests.url,
            "supports" if supported else "IGNORES",
            first.get("ETag"),
        )
        return supported


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

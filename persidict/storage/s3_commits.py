"""Every write of an S3 store: PUTs, deletes, DeleteObjects, CopyObject, multipart uploads.

Exclusive create is ``PUT If-None-Match: *``; compare-and-swap is
``PUT``/``DELETE`` with ``If-Match: <etag>``. A value above
``MULTIPART_ABOVE`` uploads in parts, committed at once (with the same
conditions) by CompleteMultipartUpload, so nothing is visible before it.

No request that may have landed is sent again without evidence that it did
not (the README's model): when a reply is lost, what is stored is read back,
and the write id every PUT carries in its metadata, with the ids of the
versions it replaced (see ``s3_faults``), tells applied, not applied, or
:class:`OutcomeUnknownError`. Conditional requests are refused on a server
that ignores their headers (``s3_probe``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, BinaryIO

from botocore.exceptions import ClientError

from persidict.errors import OutcomeUnknownError
from persidict.storage import s3_faults as faults
from persidict.storage.base import Payload, PreconditionFailed, spool_payload
from persidict.storage.s3_faults import (
    AFTER,
    WRITE_ID,
    SeenVersions,
    Version,
)
from persidict.storage.s3_probe import require_conditional
from persidict.storage.s3_requests import S3Requests

MULTIPART_ABOVE = 16 << 20
"""Values above this size upload in parts, committed at once by CompleteMultipartUpload."""
PART_SIZE = 16 << 20
SINGLE_PUT_MAX = 5 << 30  # S3's limit for one PUT

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
        """Store ``data`` at ``path`` unconditionally; the new ETag.

        A lost reply is settled by reading back: our write id (or a version
        chained after it) means applied; a version seen before the PUT was
        sent means not applied, and it is sent again; anything else is
        OutcomeUnknownError, never a blind resend that could undo a write
        acknowledged to someone else in between.
        """
        write_id = faults.new_write_id()
        body = upload_body(data)
        sent = time.monotonic()

        async def resolve(now: Version | None) -> dict:
            if now is not None and (now.write_id == write_id or now.follows(write_id)):
                return {"ETag": now.etag if now.write_id == write_id else _md5(body)}
            if now is not None and self.seen.predates(path, now, sent):
                raise _Resend
            raise self._unknown(path, "put_object", None)

        meta = {WRITE_ID: write_id}
        if isinstance(body, (bytes, bytearray)):
            resp = await self._commit(
                "put_object", path, resolve, probe=False, Body=body, Metadata=meta
            )
        else:
            resp = await self._multipart(path, body, meta, resolve, {}, probe=False)
        return self._stored(path, resp, write_id, ())

    async def copy_in_place(self, path: str, now: Version, meta: dict[str, str]) -> None:
        """Replace the metadata of version ``now`` at ``path`` by ``meta`` (a CopyObject
        pinned to its ETag), with a new write id chained after ``now``."""
        write_id = faults.new_write_id()
        meta = {**meta, WRITE_ID: write_id, AFTER: faults.chain_after(now, now.etag)}

        async def resolve(stored: Version | None) -> dict:
            if stored is not None and (stored.write_id == write_id or stored.follows(write_id)):
                return {}
            if stored is not None and _same(now, stored):
                raise _Resend  # the version we copy from, still there
            raise self._unknown(path, "copy_object", None)

        key = self.requests.key(path)
        await self._commit(
            "copy_object",
            path,
            resolve,
            probe=False,
            CopySource={"Bucket": self.requests.bucket, "Key": key},
            CopySourceIfMatch=f'"{now.etag}"',
            Metadata=meta,
            MetadataDirective="REPLACE",
        )

    async def delete(self, path: str, *, must_exist: bool = True) -> None:
        """Remove ``path``; FileNotFoundError if absent (S3's DELETE cannot say: a HEAD first).

        With ``must_exist=False`` no HEAD: absent is fine, and a lost reply
        over a version is unknown (nothing was seen before).

        A lost reply is settled by reading back: absent means done (ours, or
        a concurrent remover's: either way the key is gone, as after two
        racing ``del``); the version seen before (or one chained after it)
        means not applied, and it is sent again; anything else (a version
        created after ours landed) is OutcomeUnknownError.
        """
        if (
            must_exist
            and await self._head(path, time.monotonic() + 1.5 * self.requests.request_timeout)
            is None
        ):
            raise FileNotFoundError(f"no object at {self.requests.where(path)}")
        sent = time.monotonic()

        async def resolve(now: Version | None) -> dict:
            if now is None:
                return {}
            if self.seen.predates(path, now, sent):
                raise _Resend
            raise self._unknown(path, "delete_object", None)

        await self._commit("delete_object", path, resolve, probe=False)

    async def delete_objects(self, paths: list[str]) -> list[BaseException | None]:
        """Remove ``paths`` (absent ones too) by one DeleteObjects; an error or None per path.

        A lost reply is settled per path by a HEAD: absent is done; a version
        seen before the request was sent (or chained after one) was not
        removed, and those paths are sent again; any other version may have
        been written after ours removed the key: OutcomeUnknownError for it.
        """
        requests = self.requests
        key = requests.key
        start = time.monotonic()
        results: dict[str, BaseException | None] = {}
        todo = list(paths)
        resp: dict
        for attempt in range(requests.max_attempts):
            sent = time.monotonic()
            objects = [{"Key": key(p)} for p in todo]
            try:
                resp = await requests.attempt(
                    "delete_objects", Delete={"Objects": objects, "Quiet": True}
                )
            except Exception as exc:
                surely_not_applied = faults.never_sent(exc) or faults.refused(exc)
                if surely_not_applied and requests.may_retry(exc, attempt, start):
                    await asyncio.sleep(faults.pause(attempt, exc))
                    continue
                if not faults.unknown_outcome(exc) or attempt + 1 == requests.max_attempts:
                    error = requests.error(exc, todo[0], "delete_objects")
                    if faults.unknown_outcome(exc):
                        error = self._unknown(todo[0], "delete_objects", exc)
                    results.update(dict.fromkeys(todo, error))
                    break
                until = start + 2.5 * requests.request_timeout
                heads = await asyncio.gather(
                    *(self._head(p, until) for p in todo), return_exceptions=True
                )
                again = []
                for path, now in zip(todo, heads, strict=True):
                    if now is None:
                        results[path] = None
                    elif isinstance(now, BaseException):
                        results[path] = self._unknown(path, "delete_objects", now)
                    elif self.seen.predates(path, now, sent):
                        again.append(path)
                    else:
                        results[path] = self._unknown(path, "delete_objects", None)
                todo = again
                if not todo:
                    break
                await asyncio.sleep(faults.pause(attempt))
                continue
            failed = {e["Key"]: e for e in resp.get("Errors", ())}
            for path in todo:
                failure = failed.get(key(path))
                results[path] = (
                    None
                    if failure is None
                    else faults.S3Error(
                        f"S3 could not delete {requests.where(path)}: "
                        f"{failure['Code']} {failure['Message']}",
                        code=failure["Code"],
                        operation="DeleteObjects",
                    )
                )
            break
        else:  # out of tries: the last resend's outcome is unknown
            results.update({p: self._unknown(p, "delete_objects", None) for p in todo})
        return [results.get(p) for p in paths]

    async def create(self, path: str, data: Payload) -> str | None:
        """Store ``data`` only if ``path`` is absent; the new ETag, or None if it was there.

        A lost reply read back as absent is OutcomeUnknownError: "never
        created" and "created, then removed by someone" look alike.
        """
        write_id = faults.new_write_id()
        body = upload_body(data)
        sent = time.monotonic()

        async def resolve(now: Version | None) -> dict:
            if now is None:
                raise self._unknown(path, "put_object (If-None-Match)", None)
            if now.write_id == write_id or now.follows(write_id):
                return {"ETag": now.etag if now.write_id == write_id else _md5(body)}
            if self.seen.predates(path, now, sent):  # there before ours: ours was refused
                raise PreconditionFailed(f"{self.requests.where(path)} exists")
            # Ours refused, or created and then removed and created again by another.
            raise self._unknown(path, "put_object (If-None-Match)", None)

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
            if now.etag == etag and _same(parent, now):
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
            if now.etag == etag and _same(parent, now):
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
                with suppress(Exception):  # retried (aborting twice is harmless); else gc's
                    await request("abort_multipart_upload", path, Key=key, UploadId=upload_id)
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
            await require_conditional(self.requests)
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
        if cause is not None and (not isinstance(cause, OSError) or faults.unknown_outcome(cause)):
            cause = self.requests.error(cause, path, method)  # names a timeout's option
        why = f": {type(cause).__name__}: {cause}" if cause else ""
        return OutcomeUnknownError(
            f"S3 {method} at {self.requests.where(path)}: the reply was lost and what is stored "
            f"now cannot tell whether it was applied{why}; read the key to see its value",
            backend="s3",
            operation=method,
        )


def _same(seen: Version | None, now: Version) -> bool:
    """Is ``now`` the version ``seen`` before the request (see ``Version.same_as``)?"""
    return seen is not None and now.same_as(seen)


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

"""Writes to GCS under the service's own preconditions.

Exclusive create is an upload with ``ifGenerationMatch=0``; compare-and-swap
is an upload or DELETE with ``ifGenerationMatch=<generation>`` (the
generation is the store's ETag). Every upload carries a write id and the ids
of the versions it replaced in its metadata (as on S3, ``s3_faults``), so a
lost reply is settled by reading back what is stored, never by a blind
resend; where that cannot tell, OutcomeUnknownError. Conditional requests
are refused on an endpoint that ignores the preconditions (probed once per
endpoint and bucket; fake-gcs-server ignores them on DELETE).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from persidict.errors import ConditionalWritesUnsupportedError, OutcomeUnknownError
from persidict.storage.base import TEMP_PREFIX, Payload, PreconditionFailed, payload_bytes
from persidict.storage.gcs import requests as rq
from persidict.storage.gcs.requests import GCSRequests, HTTPStatus
from persidict.storage.s3_faults import AFTER, WRITE_ID, SeenVersions, Version, chain_after
from persidict.storage.s3_faults import new_write_id as _new_write_id

logger = logging.getLogger("persidict.storage.gcs")

_PROBE_PREFIX = f"{TEMP_PREFIX}persidict-probe-"  # a store's own name: never listed
_SUPPORT: dict[tuple[str, str], tuple[bool, bool]] = {}  # (endpoint, bucket) -> (writes, deletes)
_BOUNDARY = "persidict-part-boundary"
_ALL = "setdefault, pop, append-only writes, transform_item and the *_if operations"

Resolve = Callable[[Version | None], Awaitable[str]]


class _Resend(Exception):
    """Resolution found that a conditional request was not applied: send it again."""


def version_of(resource: dict) -> Version:
    """The stored version an object resource (JSON) describes: generation and write ids."""
    meta = resource.get("metadata") or {}
    return Version(
        str(resource["generation"]), meta.get(WRITE_ID), tuple(meta.get(AFTER, "").split())
    )


def _multipart(name: str, metadata: dict[str, str], data: bytes) -> bytes:
    """An upload's body: the object's JSON resource, then its bytes (``uploadType=multipart``)."""
    head = json.dumps({"name": name, "metadata": metadata}).encode()
    return b"".join(
        (
            f"--{_BOUNDARY}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
            head,
            f"\r\n--{_BOUNDARY}\r\nContent-Type: application/octet-stream\r\n\r\n".encode(),
            data,
            f"\r\n--{_BOUNDARY}--\r\n".encode(),
        )
    )


class GCSCommits:
    """The writes of one store, sent through ``requests``; ``seen`` chains its versions."""

    def __init__(self, requests: GCSRequests, seen: SeenVersions) -> None:
        self.requests = requests
        self.seen = seen

    # the upload itself
    async def _upload(self, path: str, data: bytes, meta: dict[str, str], **conditions: Any) -> str:
        """One upload attempt; the new generation."""
        name = self.requests.key(path)
        return await self._upload_named(name, data, meta, **conditions)

    async def _upload_named(
        self, name: str, data: bytes, meta: dict[str, str], **conditions: Any
    ) -> str:
        bucket = self.requests.bucket
        _, body = await self.requests.attempt(
            "POST",
            f"b/{bucket}/o",
            upload=True,
            params={"uploadType": "multipart", **conditions},
            headers={"Content-Type": f'multipart/related; boundary="{_BOUNDARY}"'},
            data=_multipart(name, meta, data),
        )
        return str(json.loads(body)["generation"])

    def _stored(self, path: str, generation: str, write_id: str, after: tuple[str, ...]) -> str:
        return self.seen.remember(path, Version(generation, write_id, after)).etag

    async def put(self, path: str, data: Payload) -> str:
        """Store ``data`` at ``path`` unconditionally; the new generation."""
        write_id = _new_write_id()
        body = bytes(payload_bytes(data))
        start = time.monotonic()
        for attempt in range(self.requests.max_attempts):
            try:
                generation = await self._upload(path, body, {WRITE_ID: write_id})
                return self._stored(path, generation, write_id, ())
            except Exception as exc:  # a plain write: sending it again is harmless
                if not self.requests.may_retry(exc, attempt, start):
                    raise await self.requests.error(exc, path, "upload") from exc
                await asyncio.sleep(rq.pause(attempt, exc))
        raise AssertionError("unreachable")

    async def create(self, path: str, data: Payload) -> str | None:
        """Store ``data`` only if ``path`` is absent; the new generation, or None if it is there."""
        write_id = _new_write_id()
        body = bytes(payload_bytes(data))

        async def resolve(now: Version | None) -> str:
            if now is None:
                raise _Resend
            if now.write_id == write_id:
                return now.etag
            if now.follows(write_id):
                return f"replaced-{write_id}"  # ours landed and was replaced: matches nothing
            raise PreconditionFailed(f"{self.requests.where(path)} exists")

        try:
            generation = await self._commit(
                path,
                "create",
                resolve,
                lambda: self._upload(path, body, {WRITE_ID: write_id}, ifGenerationMatch="0"),
            )
        except PreconditionFailed:
            return None
        return self._stored(path, generation, write_id, ())

    async def write_if(self, path: str, data: Payload, etag: str) -> str:
        """Replace ``path`` only if its generation is ``etag``; else PreconditionFailed."""
        if not etag.isdigit():
            raise PreconditionFailed(f"{self.requests.where(path)} has no generation {etag!r}")
        write_id = _new_write_id()
        body = bytes(payload_bytes(data))
        parent = self.seen.get(path, etag)
        after = chain_after(parent, etag)
        parent_mark = after.split()[0]

        async def resolve(now: Version | None) -> str:
            if now is not None and now.write_id == write_id:
                return now.etag
            if now is not None and now.follows(write_id):
                return f"replaced-{write_id}"
            if now is not None and now.etag == etag:
                raise _Resend
            if now is not None and now.follows(parent_mark):
                raise PreconditionFailed(
                    f"{self.requests.where(path)} was changed by another writer"
                )
            raise self._unknown(path, "replace (ifGenerationMatch)")

        meta = {WRITE_ID: write_id, AFTER: after}
        try:
            generation = await self._commit(
                path,
                "replace",
                resolve,
                lambda: self._upload(path, body, meta, ifGenerationMatch=etag),
            )
        except FileNotFoundError:
            raise PreconditionFailed(f"{self.requests.where(path)} is absent") from None
        return self._stored(path, generation, write_id, tuple(after.split()))

    async def delete(self, path: str) -> None:
        """Remove ``path``; FileNotFoundError if absent (a lost reply is settled by looking)."""
        start = time.monotonic()
        name = self.requests.object_url(self.requests.key(path))
        uncertain = False
        for attempt in range(self.requests.max_attempts):
            try:
                await self.requests.attempt("DELETE", name)
                return
            except HTTPStatus as exc:
                if exc.status == 404 and uncertain:
                    return  # our earlier attempt removed it
                if not self.requests.may_retry(exc, attempt, start):
                    raise await self.requests.error(exc, path, "delete") from exc
            except Exception as exc:
                if not self.requests.may_retry(exc, attempt, start):
                    raise await self.requests.error(exc, path, "delete") from exc
                uncertain = uncertain or rq.unknown_outcome(exc)
            await asyncio.sleep(rq.pause(attempt))

    async def delete_if(self, path: str, etag: str) -> None:
        """Remove ``path`` only if its generation is ``etag``; else PreconditionFailed."""
        if not etag.isdigit():
            raise PreconditionFailed(f"{self.requests.where(path)} has no generation {etag!r}")
        parent = self.seen.get(path, etag)
        parent_mark = chain_after(parent, etag).split()[0]

        async def resolve(now: Version | None) -> str:
            if now is None:  # removed: by us, or by another remover before us
                raise self._unknown(path, "delete (ifGenerationMatch)")
            if now.etag == etag:
                raise _Resend
            if now.follows(parent_mark):
                raise PreconditionFailed(
                    f"{self.requests.where(path)} was changed by another writer"
                )
            raise self._unknown(path, "delete (ifGenerationMatch)")

        async def send() -> str:
            name = self.requests.object_url(self.requests.key(path))
            await self.requests.attempt("DELETE", name, params={"ifGenerationMatch": etag})
            return ""

        try:
            await self._commit(path, "delete", resolve, send, deletes=True)
        except FileNotFoundError:
            raise PreconditionFailed(f"{self.requests.where(path)} is absent") from None

    # conditional requests: resent only when surely not applied, else resolved
    async def _commit(
        self,
        path: str,
        operation: str,
        resolve: Resolve,
        send: Callable[[], Awaitable[str]],
        *,
        deletes: bool = False,
    ) -> str:
        await self.require_conditional(deletes=deletes)
        requests = self.requests
        start = time.monotonic()
        uncertain = False  # an earlier attempt may have been applied
        for attempt in range(requests.max_attempts):
            try:
                return await send()
            except Exception as exc:
                if rq.never_sent(exc) or rq.refused(exc):  # surely not applied
                    if requests.may_retry(exc, attempt, start):
                        await asyncio.sleep(rq.pause(attempt, exc))
                        continue
                    if not uncertain:
                        raise await requests.error(exc, path, operation) from exc
                elif rq.unknown_outcome(exc):
                    uncertain = True
                elif not (uncertain and isinstance(exc, HTTPStatus)):
                    # a definite answer to our only attempt (412, 404, 403, ...)
                    raise await requests.error(exc, path, operation) from exc
                # else: refused, maybe because our own earlier attempt was applied
                if time.monotonic() - start > 1.5 * requests.request_timeout:
                    raise self._unknown(path, operation, exc) from exc
            try:
                return await resolve(await self._stat(path))
            except _Resend:
                await asyncio.sleep(rq.pause(attempt))
            except (OutcomeUnknownError, PreconditionFailed):
                raise
            except OSError as exc:  # the read-back itself failed
                raise self._unknown(path, operation, exc) from exc
        raise self._unknown(path, operation)

    async def _stat(self, path: str) -> Version | None:
        """The stored version at ``path`` (None if absent), read back."""
        try:
            resource = await self.requests.json(
                "GET", self.requests.object_url(self.requests.key(path)), path
            )
        except FileNotFoundError:
            return None
        return self.seen.remember(path, version_of(resource))

    def _unknown(self, path: str, operation: str, cause: BaseException | None = None) -> Exception:
        why = f": {type(cause).__name__}: {cause}" if cause else ""
        return OutcomeUnknownError(
            f"GCS {operation} at {self.requests.where(path)}: the reply was lost and what is "
            f"stored now cannot tell whether it was applied{why}; read the key to see its value",
            backend="gcs",
            operation=operation,
        )

    # endpoints that ignore preconditions
    async def require_conditional(self, *, deletes: bool = False) -> None:
        """Refuse conditional requests on an endpoint that ignores them (probed once)."""
        where = (self.requests.endpoint, self.requests.bucket)
        support = _SUPPORT.get(where)
        if support is None:
            support = _SUPPORT[where] = await self._probe()
        writes, deletes_ok = support
        if writes and (deletes_ok or not deletes):
            return
        what = "DELETE" if writes else "uploads"
        raise ConditionalWritesUnsupportedError(
            f"GCS endpoint {where[0]} (bucket {where[1]!r}, {self.requests.url}) ignores "
            f"ifGenerationMatch on {what}: "
            + (
                "pop and discard_if"
                if writes
                else "setdefault, pop, append-only writes, transform_item and the *_if operations"
            )
            + " would be silently wrong there, so they are refused; plain get/set/del work",
            backend="gcs",
            operation="probe",
        )

    async def _probe(self) -> tuple[bool, bool]:
        """Do uploads and DELETEs with a wrong ``ifGenerationMatch`` fail (412)?

        The probe object lives at the bucket's top under a name no listing
        shows (it carries the temp mark) and is removed at once.
        """
        name = f"{_PROBE_PREFIX}{_new_write_id()}"
        generation = await self._upload_named(name, b"probe", {})
        wrong = str(int(generation) + 1)

        async def refused(send: Callable[[], Awaitable[Any]]) -> bool:
            try:
                await send()
            except HTTPStatus as exc:
                if exc.status == 412:
                    return True
                raise
            return False

        url = self.requests.object_url(name)
        try:
            writes = await refused(
                lambda: self._upload_named(name, b"x", {}, ifGenerationMatch="0")
            )
            writes &= await refused(
                lambda: self._upload_named(name, b"x", {}, ifGenerationMatch=wrong)
            )
            deletes = await refused(
                lambda: self.requests.attempt("DELETE", url, params={"ifGenerationMatch": wrong})
            )
        finally:
            with suppress(HTTPStatus):
                await self.requests.attempt("DELETE", url)
        logger.info(
            "GCS endpoint %s for %s: preconditions on uploads %s, on DELETE %s",
            self.requests.endpoint,
            self.requests.url,
            "honoured" if writes else "IGNORED",
            "honoured" if deletes else "IGNORED",
        )
        return writes, deletes

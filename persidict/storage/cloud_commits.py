"""Writes to an object store under its own preconditions, exact under lost replies.

Shared by the GCS and Azure stores, which differ only in how a request is
sent (:class:`CloudCommits`' abstract methods): an upload that is plain, an
exclusive create or a compare-and-swap on the version tag (the store's
ETag), and a plain or conditional delete. Every upload carries a write id and
the ids of the versions it replaced in its metadata (the scheme of
``s3_faults``). A conditional request is resent only when it surely was not
applied; when its reply is lost, what is stored is read back and decides;
where it cannot tell, OutcomeUnknownError.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO, Protocol

from persidict.errors import OutcomeUnknownError
from persidict.storage.base import Payload, PreconditionFailed, spool_payload
from persidict.storage.s3_faults import SeenVersions, Version, chain_after, new_write_id

Resolve = Callable[[Version | None], Awaitable[str]]
"""Looks at what is stored after an unknown outcome: the answer, or raises."""
Body = bytes | BinaryIO
"""What an upload sends: bytes, or a spooled file (a streamed value), read from its start."""


def upload_body(data: Payload) -> Body:
    """Bytes as they are; a callable's output spooled to a file (memory, then disk)."""
    body = spool_payload(data)
    return bytes(body) if isinstance(body, (bytearray, memoryview)) else body


def close_body(body: Body) -> None:
    if not isinstance(body, bytes):
        body.close()


class Wire(Protocol):
    """What the commits need of a store's request layer."""

    max_attempts: int
    request_timeout: float

    def where(self, path: str = "") -> str: ...
    def never_sent(self, exc: BaseException) -> bool: ...
    def refused(self, exc: BaseException) -> bool: ...
    def unknown_outcome(self, exc: BaseException) -> bool: ...
    def answered(self, exc: BaseException) -> bool: ...
    def pause(self, attempt: int, exc: BaseException | None = None) -> float: ...
    def may_retry(self, exc: BaseException, attempt: int, start: float) -> bool: ...
    async def error(self, exc: BaseException, path: str | None, operation: str) -> Exception: ...


class _Resend(Exception):
    """Resolution found that a conditional request was not applied: send it again."""


class CloudCommits(ABC):
    """The writes of one store, sent through ``requests``; ``seen`` chains its versions."""

    backend = ""
    """Names the service in messages and errors ("gcs", "azure")."""

    def __init__(self, requests: Any, seen: SeenVersions) -> None:
        self.requests: Wire = requests
        self.seen = seen

    # what a backend sends
    @abstractmethod
    async def send_upload(
        self, path: str, body: Body, write_id: str, after: str, condition: str | None
    ) -> str:
        """One upload attempt of all of ``body`` (a file: from its start); the new version tag.

        ``condition``: None (plain), ``"*"`` (only if absent) or the version tag
        the stored object must have. Raises the wire's own exceptions.
        """

    @abstractmethod
    async def send_delete(self, path: str, condition: str | None) -> None:
        """One delete attempt, plain or only if the stored version tag is ``condition``."""

    @abstractmethod
    async def stat(self, path: str) -> Version | None:
        """The stored version at ``path`` (tag and write ids), None if absent."""

    @abstractmethod
    async def require_conditional(self, *, deletes: bool = False) -> None:
        """Raise ConditionalWritesUnsupportedError if the endpoint ignores preconditions."""

    # the store's writes
    def _stored(self, path: str, tag: str, write_id: str, after: tuple[str, ...]) -> str:
        return self.seen.remember(path, Version(tag, write_id, after)).etag

    async def put(self, path: str, data: Payload) -> str:
        """Store ``data`` at ``path`` unconditionally; the new version tag."""
        write_id = new_write_id()
        body = upload_body(data)
        requests = self.requests
        start = time.monotonic()
        try:
            for attempt in range(requests.max_attempts):
                try:
                    tag = await self.send_upload(path, body, write_id, "", None)
                    return self._stored(path, tag, write_id, ())
                except Exception as exc:  # a plain write: sending it again is harmless
                    if not requests.may_retry(exc, attempt, start):
                        raise await requests.error(exc, path, "upload") from exc
                    await asyncio.sleep(requests.pause(attempt, exc))
        finally:
            close_body(body)
        raise AssertionError("unreachable")  # the last attempt raised

    async def create(self, path: str, data: Payload) -> str | None:
        """Store ``data`` only if ``path`` is absent; the new version tag; None if it is there."""
        write_id = new_write_id()
        body = upload_body(data)

        async def resolve(now: Version | None) -> str:
            if now is None:
                raise _Resend
            if now.write_id == write_id:
                return now.etag
            if now.follows(write_id):
                return f"replaced-{write_id}"  # ours landed and was replaced: matches nothing
            raise PreconditionFailed(f"{self.requests.where(path)} exists")

        async def send() -> str:
            return await self.send_upload(path, body, write_id, "", "*")

        try:
            tag = await self._commit(path, "create", resolve, send)
        except PreconditionFailed:
            return None
        finally:
            close_body(body)
        return self._stored(path, tag, write_id, ())

    async def write_if(self, path: str, data: Payload, etag: str) -> str:
        """Replace ``path`` only if its version tag is ``etag``; else PreconditionFailed."""
        write_id = new_write_id()
        body = upload_body(data)
        parent = self.seen.get(path, etag)
        after = chain_after(parent, etag)
        parent_mark = after.split()[0]
        where = self.requests.where(path)

        async def resolve(now: Version | None) -> str:
            if now is None:
                raise self._unknown(path, "replace")
            if now.write_id == write_id:
                return now.etag
            if now.follows(write_id):
                return f"replaced-{write_id}"
            if now.etag == etag:
                raise _Resend
            if now.follows(parent_mark) or now.follows(f"e{etag}"):  # by id, or by tag
                raise PreconditionFailed(f"{where} was changed by another writer")
            raise self._unknown(path, "replace")

        async def send() -> str:
            return await self.send_upload(path, body, write_id, after, etag)

        try:
            tag = await self._commit(path, "replace", resolve, send)
        except FileNotFoundError:
            raise PreconditionFailed(f"{where} is absent") from None
        finally:
            close_body(body)
        return self._stored(path, tag, write_id, tuple(after.split()))

    async def delete(self, path: str) -> None:
        """Remove ``path``; FileNotFoundError if absent (after a lost reply: if we removed it)."""
        requests = self.requests
        start = time.monotonic()
        uncertain = False
        for attempt in range(requests.max_attempts):
            try:
                await self.send_delete(path, None)
                return
            except Exception as exc:
                error = await requests.error(exc, path, "delete")
                if isinstance(error, FileNotFoundError) and uncertain:
                    return  # our earlier attempt removed it
                if not requests.may_retry(exc, attempt, start):
                    raise error from exc
                uncertain = uncertain or requests.unknown_outcome(exc)
            await asyncio.sleep(requests.pause(attempt))

    async def delete_if(self, path: str, etag: str) -> None:
        """Remove ``path`` only if its version tag is ``etag``; else PreconditionFailed."""
        parent = self.seen.get(path, etag)
        parent_mark = chain_after(parent, etag).split()[0]
        where = self.requests.where(path)

        async def resolve(now: Version | None) -> str:
            if now is None:  # removed: by us, or by another remover before us
                raise self._unknown(path, "conditional delete")
            if now.etag == etag:
                raise _Resend
            if now.follows(parent_mark) or now.follows(f"e{etag}"):
                raise PreconditionFailed(f"{where} was changed by another writer")
            raise self._unknown(path, "conditional delete")

        async def send() -> str:
            await self.send_delete(path, etag)
            return ""

        try:
            await self._commit(path, "conditional delete", resolve, send, deletes=True)
        except FileNotFoundError:
            raise PreconditionFailed(f"{where} is absent") from None

    async def _commit(
        self,
        path: str,
        operation: str,
        resolve: Resolve,
        send: Callable[[], Awaitable[str]],
        *,
        deletes: bool = False,
    ) -> str:
        """A conditional request: resent only when surely not applied, else resolved."""
        await self.require_conditional(deletes=deletes)
        requests = self.requests
        start = time.monotonic()
        uncertain = False  # an earlier attempt may have been applied
        for attempt in range(requests.max_attempts):
            try:
                return await send()
            except Exception as exc:
                if requests.never_sent(exc) or requests.refused(exc):  # surely not applied
                    if requests.may_retry(exc, attempt, start):
                        await asyncio.sleep(requests.pause(attempt, exc))
                        continue
                    if not uncertain:
                        raise await requests.error(exc, path, operation) from exc
                elif requests.unknown_outcome(exc):
                    uncertain = True
                elif not (uncertain and requests.answered(exc)):
                    # a definite answer to our only attempt (412, 404, 403, ...)
                    raise await requests.error(exc, path, operation) from exc
                # else: refused, maybe because our own earlier attempt was applied
                if time.monotonic() - start > 1.5 * requests.request_timeout:
                    raise self._unknown(path, operation, exc) from exc
            try:
                return await resolve(await self.stat(path))
            except _Resend:
                await asyncio.sleep(requests.pause(attempt))
            except (OutcomeUnknownError, PreconditionFailed):
                raise
            except OSError as exc:  # the read-back itself failed
                raise self._unknown(path, operation, exc) from exc
        raise self._unknown(path, operation)

    def _unknown(self, path: str, operation: str, cause: BaseException | None = None) -> Exception:
        why = f": {type(cause).__name__}: {cause}" if cause else ""
        return OutcomeUnknownError(
            f"{self.backend} {operation} at {self.requests.where(path)}: the reply was lost and "
            f"what is stored now cannot tell whether it was applied{why}; read the key to see "
            "its value",
            backend=self.backend,
            operation=operation,
        )

"""What an S3 failure means: retry it, resolve it, or report it (used by S3Store).

A failed request is one of three things:

- **refused**: the server answered and did not apply it (4xx, 503 with S3's
  ``SlowDown`` error code), or it never left this machine (the connection
  could not be made);
- **transient and unknown**: it may have been applied (a reset, a lost or
  truncated reply, a 5xx, a timeout after sending). A 503 without the
  ``SlowDown`` code is one of these: a load balancer answers so after it
  forwarded the request to a server that went quiet;
- **final**: anything else.

Idempotent requests retry the first two kinds; a conditional request is
resent only when it surely was not applied, and otherwise its outcome is
resolved by reading back the write id that every write carries.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import socket
import time
from dataclasses import dataclass, field

from persidict import errors
from persidict.errors import BackendError, OutcomeUnknownError

WRITE_ID = "persidict-write-id"
"""User-metadata name of the id that tags every write (``x-amz-meta-persidict-write-id``)."""
AFTER = "persidict-after"
"""User-metadata name of the ids of the versions this one replaced, newest first."""
CHAIN = 128
"""Ids of replaced versions kept in each object's metadata (11 bytes each; S3 allows 2 KB).

A lost reply is resolved exactly while fewer than this many writes landed on
the key between the lost one and the read-back; beyond, OutcomeUnknownError."""

_SLOW_DOWN = "SlowDown"  # S3's own refusal; a bare 503 (code "503") may have applied
_TRANSIENT_CODES = {"InternalError", "ServiceUnavailable", "RequestTimeout", "500", "502", "504"}


class S3Error(BackendError):
    """S3 answered with an error; ``code`` is S3's error code (``SlowDown``, ...)."""

    def __init__(self, message: str, *, code: str = "", operation: str = "", key=None) -> None:
        super().__init__(message, backend="s3", operation=operation, key=key)
        self.code = code

    def __reduce__(self):
        return (_rebuild_s3_error, (type(self), str(self), self.code, self.operation, self.key))


class S3TimeoutError(S3Error, TimeoutError):
    """No answer from the S3 endpoint within the configured ``request_timeout``."""


class ConditionalWritesUnsupportedError(S3Error, errors.ConditionalWritesUnsupportedError):
    """The endpoint ignores ``If-Match``/``If-None-Match``; conditional operations are refused."""


def _rebuild_s3_error(cls, message, code, operation, key):
    return cls(message, code=code, operation=operation, key=key)


def new_write_id() -> str:
    """40 random bits: a chain of 128 ids holds a stranger's id once in 8 billion resolutions."""
    return secrets.token_hex(5)


@dataclass(frozen=True)
class Version:
    """What a GET or HEAD said of one stored version: its ETag and write ids."""

    etag: str
    write_id: str | None
    after: tuple[str, ...]
    modified: float | None = field(default=None, compare=False)
    """S3's LastModified (None for a version known from our own PUT's reply): a
    restore that copies the object with its metadata keeps the ids, not this."""

    @classmethod
    def of(cls, resp: dict) -> Version:
        meta = resp.get("Metadata") or {}
        after = tuple(meta.get(AFTER, "").split())
        modified = resp.get("LastModified")
        stamp = modified.timestamp() if modified is not None else None
        return cls(resp["ETag"].strip('"'), meta.get(WRITE_ID), after, stamp)

    def same_as(self, seen: Version) -> bool:
        """Is this the very version ``seen``, not a copy of it restored since?

        Only a write id can say (the same bytes rewritten have the same ETag),
        and LastModified, where both are known, tells a restored copy apart.
        """
        if seen.write_id is None or self.write_id != seen.write_id or self.etag != seen.etag:
            return False
        return None in (self.modified, seen.modified) or self.modified == seen.modified

    @property
    def mark(self) -> str:
        """How later versions name this one in their ``after`` chain."""
        return self.write_id or f"e{self.etag}"

    def follows(self, mark: str) -> bool:
        """True if this version replaced (directly or a few steps on) the version ``mark``."""
        return mark in self.after


class SeenVersions:
    """The versions a store saw last, by path and ETag, and when it first saw each.

    A write names what it replaces from here; and a version carrying a write
    id that was seen before a request was sent proves, while it is still
    stored, that the request has not landed (see :meth:`predates`).
    Bounded: beyond ``limit`` entries the oldest is forgotten.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._seen: dict[tuple[str, str], tuple[Version, float]] = {}
        self._limit = limit

    def remember(self, path: str, version: Version) -> Version:
        """Note ``version`` as seen at ``path`` now; returns it."""
        known = self._seen.get((path, version.etag))
        if known is not None and known[0] == version and version.same_as(known[0]):
            if known[0].modified is None:  # learn its LastModified, keep the first sighting
                self._seen[(path, version.etag)] = (version, known[1])
            return version
        if len(self._seen) >= self._limit:
            del self._seen[next(iter(self._seen))]
        self._seen[(path, version.etag)] = (version, time.monotonic())
        return version

    def get(self, path: str, etag: str) -> Version | None:
        """The version with ``etag`` last seen at ``path``, if remembered."""
        known = self._seen.get((path, etag))
        return known[0] if known else None

    def predates(self, path: str, now: Version, sent: float) -> bool:
        """Did ``now`` (stored at ``path``) exist before monotonic time ``sent``?

        True if ``now``, or a version it replaced by a chain of conditional
        writes, carries a write id seen here before ``sent``. A write sent at
        ``sent`` that had landed would have replaced that version and broken
        the chain, so it has not landed. A restore that copies an old object
        with its metadata is told apart by LastModified where both sightings
        have one; a restored copy of a version chained after a seen one is not.
        """
        for (where, _), (version, first) in self._seen.items():
            if where != path or first >= sent or version.write_id is None:
                continue
            if now.same_as(version) or now.follows(version.write_id):
                return True
        return False


def chain_after(parent: Version | None, etag: str) -> str:
    """The ``after`` metadata of a write replacing the version with ``etag``."""
    if parent is None or parent.etag != etag:
        return f"e{etag}"
    return " ".join((parent.mark, *parent.after)[:CHAIN])


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return 0
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def never_sent(exc: BaseException) -> bool:
    """True if the request surely did not reach the server (the connection failed)."""
    from aiohttp import ClientConnectorError
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    if isinstance(exc, ConnectTimeoutError):
        return True
    if isinstance(exc, EndpointConnectionError):
        cause = getattr(exc, "kwargs", {}).get("error")
        return isinstance(cause, (ClientConnectorError, socket.gaierror))
    return False


def refused(exc: BaseException) -> bool:
    """True if the server turned the request away without applying it (503 SlowDown)."""
    return error_code(exc) == _SLOW_DOWN


def unknown_outcome(exc: BaseException) -> bool:
    """True for failures after which the request may or may not have been applied."""
    from aiohttp import ClientError as AiohttpError
    from botocore.exceptions import (
        ConnectionClosedError,
        EndpointConnectionError,
        HTTPClientError,
        IncompleteReadError,
        ReadTimeoutError,
        ResponseStreamingError,
    )

    if never_sent(exc):
        return False
    if isinstance(
        exc,
        (
            ConnectionClosedError,
            EndpointConnectionError,
            HTTPClientError,
            IncompleteReadError,
            ReadTimeoutError,
            ResponseStreamingError,
            AiohttpError,
            asyncio.TimeoutError,
            ConnectionError,
        ),
    ):
        return True
    code = error_code(exc)
    return code in _TRANSIENT_CODES or (http_status(exc) >= 500 and code != _SLOW_DOWN)


def transient(exc: BaseException) -> bool:
    """True if an idempotent request that failed this way may succeed when sent again."""
    return never_sent(exc) or refused(exc) or unknown_outcome(exc)


def pause(attempt: int, exc: BaseException | None = None) -> float:
    """Jittered exponential back-off before attempt ``attempt + 1`` (longer after SlowDown)."""
    base = 0.2 if exc is not None and refused(exc) else 0.05
    return random.uniform(base / 2, min(2.0, base * 2**attempt))


__all__ = [
    "AFTER",
    "WRITE_ID",
    "ConditionalWritesUnsupportedError",
    "OutcomeUnknownError",
    "S3Error",
    "S3TimeoutError",
    "SeenVersions",
    "Version",
]

"""One GCS request: the JSON API over gcsfs's session, bounded retries, errors naming the path.

gcsfs gives the credentials (``token``: a file, ``"anon"``, ``"google_default"``,
...), the endpoint (``endpoint_url``, else ``STORAGE_EMULATOR_HOST``, else
Google's) and the aiohttp session; gcsfs's own request method is not used,
since it resends every failed request, conditional uploads included.
:meth:`GCSRequests.request` retries an idempotent request on transient failures
with jittered back-off bounded in count (``max_attempts``) and time
(``request_timeout``); conditional requests are left to ``commits``, which
knows when a resend is safe. Failures become the OSError a dict user
catches, naming the ``gs://`` path.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any
from urllib.parse import quote

import aiohttp
from fsspec.asyn import sync
from fsspec.exceptions import FSTimeoutError

from persidict.errors import BackendError
from persidict.storage.base import PreconditionFailed, RootNotFoundError
from persidict.storage.cloud_retry import PATIENCE, RetryBudget
from persidict.storage.no_resend import without_resend

REQUEST_TIMEOUT = 8.0
"""Default ``request_timeout``: seconds one request may wait to connect and for an answer."""
MAX_ATTEMPTS = 5
OWN_OPTIONS = ("request_timeout", "max_attempts", "ship_credentials")
"""Storage options of the store itself, never passed to gcsfs."""
_REFUSED = {429}  # rate limited: not applied, try again later
_UNKNOWN = {408, 500, 502, 503, 504}  # may have been applied


class GCSError(BackendError):
    """GCS answered with an error; ``status`` is its HTTP status."""

    def __init__(self, message: str, *, status: int = 0, operation: str = "", key=None) -> None:
        super().__init__(message, backend="gcs", operation=operation, key=key)
        self.status = status

    def __reduce__(self):
        return (_rebuild, (type(self), str(self), self.status, self.operation, self.key))


class GCSTimeoutError(GCSError, TimeoutError):
    """No answer from the GCS endpoint within the configured ``request_timeout``."""


def _rebuild(cls, message, status, operation, key):
    return cls(message, status=status, operation=operation, key=key)


class HTTPStatus(Exception):
    """An answer other than 2xx: ``status`` and the body GCS sent."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300].decode(errors='replace')}")
        self.status = status
        self.body = body


def never_sent(exc: BaseException) -> bool:
    """True if the request surely did not reach the server (the connection failed)."""
    return isinstance(exc, aiohttp.ClientConnectorError)


def refused(exc: BaseException) -> bool:
    """True if the server turned the request away without applying it (429)."""
    return isinstance(exc, HTTPStatus) and exc.status in _REFUSED


def unknown_outcome(exc: BaseException) -> bool:
    """True for failures after which the request may or may not have been applied."""
    if never_sent(exc):
        return False
    if isinstance(exc, HTTPStatus):
        return exc.status in _UNKNOWN
    return isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError))


def transient(exc: BaseException) -> bool:
    """True if an idempotent request that failed this way may succeed when sent again."""
    return never_sent(exc) or refused(exc) or unknown_outcome(exc)


class GCSRequests(RetryBudget):
    """Requests to ``bucket`` about paths relative to ``prefix`` (options: see GCSStore)."""

    def __init__(self, bucket: str, prefix: str, storage_options: dict[str, Any]) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.storage_options = storage_options
        self.url = f"gs://{bucket}/{prefix}".rstrip("/")
        self.request_timeout = float(storage_options.get("request_timeout", REQUEST_TIMEOUT))
        self.max_attempts = max(1, int(storage_options.get("max_attempts", MAX_ATTEMPTS)))
        self.bucket_seen = False
        self._fs: Any = None
        self._pid: int | None = None

    @property
    def fs(self) -> Any:
        """gcsfs's filesystem, rebuilt after a fork (its event loop is per process)."""
        if self._fs is None or self._pid != os.getpid():
            # The core class: gcsfs's default (its zonal-bucket extension) asks every
            # bucket's layout first, which stalls ~60 s a call on an emulator.
            from gcsfs.core import GCSFileSystem

            options = {k: v for k, v in self.storage_options.items() if k not in OWN_OPTIONS}
            self._fs = GCSFileSystem(skip_instance_cache=True, **options)
            self._pid = os.getpid()
        return self._fs

    @property
    def endpoint(self) -> str:
        return str(self.fs._location)

    # names: a relative path <-> an object name <-> a gs:// URL
    def key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix and path else self.prefix or path

    def folder_key(self, path: str) -> str:
        key = self.key(path)
        return f"{key}/" if key else ""

    def relative(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name

    def where(self, path: str = "") -> str:
        """The ``gs://`` URL of ``path``, as errors name it."""
        return f"gs://{self.bucket}/{self.key(path)}".rstrip("/")

    def object_url(self, name: str) -> str:
        return f"b/{quote(self.bucket, safe='')}/o/{quote(name, safe='')}"

    # sending
    def run(self, coro_fn: Any, *args: Any) -> Any:
        """Run ``coro_fn(*args)`` on the filesystem's event loop and return its result."""
        try:
            return sync(self.fs.loop, coro_fn, *args)
        except FSTimeoutError as exc:  # fsspec renames every TimeoutError; ours names the path
            if isinstance(exc.__cause__, GCSTimeoutError):
                raise exc.__cause__ from exc.__cause__.__cause__
            raise

    async def attempt(
        self,
        method: str,
        api_path: str,
        *,
        upload: bool = False,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
    ) -> tuple[dict[str, str], bytes]:
        """Send one request; its headers and body, or HTTPStatus for anything but 2xx."""
        fs = self.fs
        without_resend(await fs._set_session())  # a conditional DELETE is no idempotent request
        base = f"{fs._location}/upload/storage/v1/" if upload else f"{fs._location}/storage/v1/"
        timeout = aiohttp.ClientTimeout(
            sock_connect=min(5.0, self.request_timeout), sock_read=self.request_timeout
        )
        if hasattr(data, "seek"):
            data.seek(0)  # a resend sends the whole file again
        async with fs.session.request(
            method,
            base + api_path,
            params=fs._get_params(params or {}),
            headers=fs._get_headers(headers),
            data=data,
            timeout=timeout,
        ) as resp:
            body = await resp.read()
            if resp.status >= 300:
                raise HTTPStatus(resp.status, body)
            return dict(resp.headers), body

    # what a failure means (the commits' Wire)
    never_sent = staticmethod(never_sent)
    refused = staticmethod(refused)
    unknown_outcome = staticmethod(unknown_outcome)
    transient = staticmethod(transient)

    @staticmethod
    def answered(exc: BaseException) -> bool:
        """True if the server answered with an error status (a definite refusal)."""
        return isinstance(exc, HTTPStatus)

    async def request(
        self,
        method: str,
        api_path: str,
        path: str | None,
        patience: float = PATIENCE,
        **kwargs: Any,
    ) -> tuple[dict[str, str], bytes]:
        """An idempotent request, retried on transient failures; errors name ``path``."""
        start = time.monotonic()
        for attempt in range(self.max_attempts):
            try:
                return await self.attempt(method, api_path, **kwargs)
            except Exception as exc:
                if not self.may_retry(exc, attempt, start, patience):
                    raise await self.error(exc, path, method) from exc
                await asyncio.sleep(self.pause(attempt, exc))
        raise AssertionError("unreachable")  # the last attempt raised

    async def json(self, method: str, api_path: str, path: str | None, **kwargs: Any) -> dict:
        return json.loads((await self.request(method, api_path, path, **kwargs))[1] or b"{}")

    async def error(self, exc: BaseException, path: str | None, operation: str) -> Exception:
        """The exception a user sees for ``exc``, naming the ``gs://`` path."""
        where = self.where(path or "")
        if isinstance(exc, HTTPStatus):
            status = exc.status
            if status == 404:
                if path is None or not await self._bucket_exists():
                    return RootNotFoundError(f"GCS bucket {self.bucket!r} ({where}) does not exist")
                return FileNotFoundError(f"{where} does not exist")
            if status == 412:
                return PreconditionFailed(f"{where}: precondition failed")
            if status in (401, 403):
                return PermissionError(f"GCS {operation} on {where}: access denied ({exc})")
            return GCSError(
                f"GCS {operation} on {where} failed: {exc}", status=status, operation=operation
            )
        if isinstance(exc, asyncio.TimeoutError):
            return GCSTimeoutError(
                f"GCS {operation} on {where}: no answer from {self.endpoint} "
                f"within {self.request_timeout} s",
                operation=operation,
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            return ConnectionError(
                f"GCS {operation} on {where}: cannot reach {self.endpoint}: {exc}"
            )
        if isinstance(exc, (aiohttp.ClientError, ConnectionError)):
            return GCSError(
                f"GCS {operation} on {where} failed: {type(exc).__name__}: {exc}",
                operation=operation,
            )
        if isinstance(exc, OSError):
            return exc
        return GCSError(
            f"GCS {operation} on {where} failed: {type(exc).__name__}: {exc}", operation=operation
        )

    async def _bucket_exists(self) -> bool:
        """Whether the bucket exists (asked once a store: a missing object's 404 is ambiguous)."""
        if self.bucket_seen:
            return True
        try:
            await self.attempt("GET", f"b/{quote(self.bucket, safe='')}")
        except HTTPStatus as exc:
            if exc.status == 404:
                return False
        except Exception:
            return True  # cannot tell: say what was asked for is missing
        self.bucket_seen = True
        return True

"""One S3 request: s3fs's aiobotocore client, bounded retries, errors naming the path.

Every request of an S3Store goes through :meth:`S3Requests.attempt`, which
applies the user's s3fs options (``s3_additional_kwargs``, requester pays).
botocore's own retries are off. :meth:`S3Requests.request` retries an
idempotent request on transient failures (see ``s3_faults``), with jittered
back-off bounded in count (``max_attempts``) and time (``request_timeout``);
conditional requests are left to ``s3_commits``, which knows when a resend is
safe. :meth:`S3Requests.error` turns a failure into the OSError a dict user
catches, naming the ``s3://`` path.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from fsspec.asyn import sync
from fsspec.exceptions import FSTimeoutError

from persidict.storage import s3_faults as faults
from persidict.storage.base import PreconditionFailed, RootNotFoundError
from persidict.storage.s3_faults import S3Error, S3TimeoutError

REQUEST_TIMEOUT = 8.0
"""Default ``request_timeout``: seconds one request may wait for the server.

An operation starts no new attempt once 1.5 times this has passed (2.5 times
for the read-back that settles a conditional write's lost reply), so against a
silent endpoint ``get``/``set`` fail within 2 x 8 = 16 s, conditional
operations within 3 x 8 = 24 s."""
MAX_ATTEMPTS = 5
EXPECT_CONTINUE_ABOVE = 1 << 20
"""PUT bodies up to this size go without ``Expect: 100-continue``: one round trip."""
CONNECTIONS = 64
"""Connections kept open to the endpoint: one per request a batch has in flight
(aiobotocore's default of 10 made batches of 64 wait for each other)."""
OWN_OPTIONS = ("request_timeout", "max_attempts", "ship_credentials")
"""Storage options of the store itself, never passed to s3fs."""
_MISSING = {"NoSuchKey", "404", "NotFound"}
_DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "403",
    "ExpiredToken",
    "InvalidToken",
}


class NotModified(Exception):
    """A conditional GET found the ETag unchanged (HTTP 304)."""


class S3Requests:
    """Requests to ``bucket`` about paths relative to ``prefix``.

    ``storage_options`` are the store's (see :class:`~persidict.storage.s3.S3Store`).
    """

    def __init__(self, bucket: str, prefix: str, storage_options: dict[str, Any]) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.storage_options = storage_options
        self.url = f"s3://{bucket}/{prefix}".rstrip("/")
        self.request_timeout = float(storage_options.get("request_timeout", REQUEST_TIMEOUT))
        self.max_attempts = max(1, int(storage_options.get("max_attempts", MAX_ATTEMPTS)))
        self._fs: Any = None
        self._pid: int | None = None

    @property
    def fs(self) -> Any:
        """The s3fs filesystem, rebuilt after a fork (its event loop is per process)."""
        if self._fs is None or self._pid != os.getpid():
            import s3fs

            from persidict.moto_compat import s3fs_options

            options = s3fs_options(
                {k: v for k, v in self.storage_options.items() if k not in OWN_OPTIONS}
            )
            timeout = self.request_timeout
            config = {
                "connect_timeout": min(5.0, timeout),
                "read_timeout": timeout,
                "max_pool_connections": CONNECTIONS,
                **options.pop("config_kwargs", {}),
                "retries": {"total_max_attempts": 1},  # retried here, knowing what is safe
            }
            self._fs = s3fs.S3FileSystem(config_kwargs=config, skip_instance_cache=True, **options)
            self._pid = os.getpid()
        return self._fs

    # names: a relative path <-> an object key <-> an s3:// URL
    def key(self, path: str) -> str:
        """The object key of relative ``path`` ('' is the prefix itself)."""
        return f"{self.prefix}/{path}" if self.prefix and path else self.prefix or path

    def folder_key(self, path: str) -> str:
        """The key prefix of everything in folder ``path`` ('' for the whole bucket)."""
        key = self.key(path)
        return f"{key}/" if key else ""

    def relative(self, key: str) -> str:
        """The relative path of an object key under the prefix."""
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def where(self, path: str = "") -> str:
        """The ``s3://`` URL of ``path``, as errors name it."""
        return f"s3://{self.bucket}/{self.key(path)}"

    # sending
    def run(self, coro_fn: Any, *args: Any) -> Any:
        """Run ``coro_fn(*args)`` on the filesystem's event loop and return its result."""
        try:
            return sync(self.fs.loop, coro_fn, *args)
        except FSTimeoutError as exc:  # fsspec renames every TimeoutError; ours names the path
            if isinstance(exc.__cause__, S3TimeoutError):
                raise exc.__cause__ from exc.__cause__.__cause__
            raise

    async def client(self) -> Any:
        """The aiobotocore client, with this store's hooks on its requests."""
        client = await self.fs.set_session()
        if not getattr(client, "_persidict_hooks", False):
            client.meta.events.register("before-send.s3.PutObject", _one_round_trip)
            _no_blind_resend(client._endpoint.http_session)
            client._persidict_hooks = True
        return client

    async def attempt(self, method: str, **kwargs: Any) -> dict:
        """Send one request with the user's options; a GET's body is read into ``Data``."""
        client = await self.client()
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

    async def request(
        self, method: str, path: str | None = None, *, until: float | None = None, **kwargs: Any
    ) -> dict:
        """An idempotent request, retried on transient failures within the bounds.

        No attempt starts after ``until`` (monotonic; default 1.5 request
        timeouts from now), so a silent endpoint fails within two timeouts.
        Failures raise :meth:`error` of them, naming ``path``.
        """
        attempts = self.max_attempts if until is None else 2 * self.max_attempts
        until = until or time.monotonic() + 1.5 * self.request_timeout
        for attempt in range(attempts):
            try:
                return await self.attempt(method, **kwargs)
            except Exception as exc:
                if not (faults.transient(exc) and attempt + 1 < attempts):
                    raise self.error(exc, path, method) from exc
                if time.monotonic() + faults.pause(attempt) >= until:
                    raise self.error(exc, path, method) from exc
                await asyncio.sleep(faults.pause(attempt, exc))
        raise AssertionError("unreachable")

    def may_retry(self, exc: BaseException, attempt: int, start: float) -> bool:
        """True if attempt ``attempt`` (begun at monotonic ``start``) failing so may be retried."""
        if not faults.transient(exc):
            return False
        budget = 1.5 * self.request_timeout
        return attempt + 1 < self.max_attempts and time.monotonic() - start < budget

    def error(self, exc: BaseException, path: str | None, method: str) -> BaseException:
        """The OSError (naming the s3:// path) that ``exc`` means to a dict user."""
        where = self.where(path or "")
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
        where = self.where(path or "")
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

    def create_bucket(self) -> None:
        """Make the bucket if a HEAD says it is missing; a 403 means it exists elsewhere."""

        async def make():
            try:
                await self.request("head_bucket")
                return
            except PermissionError:
                return  # someone else's bucket, maybe shared with us by a policy
            except (FileNotFoundError, RootNotFoundError):
                pass
            client = await self.client()
            region = client.meta.region_name
            where = {}
            if region and region != "us-east-1":
                where = {"CreateBucketConfiguration": {"LocationConstraint": region}}
            try:
                await self.request("create_bucket", **where)
            except OSError as exc:
                if "BucketAlreadyOwnedByYou" not in str(exc) and "BucketAlreadyExists" not in str(
                    exc
                ):
                    raise

        self.run(make)


def _no_blind_resend(http_session: Any) -> None:
    """Stop aiohttp from resending a PUT/DELETE whose connection broke (RFC 9112 9.3.1).

    aiohttp resends "idempotent" methods once on a broken keep-alive
    connection; a conditional PUT or DELETE is not idempotent, and a resend
    of one that was applied reports the wrong outcome. The store decides.
    """
    from persidict.storage.no_resend import without_resend

    get_session = http_session._get_session

    async def get_without_resend(*args: Any, **kwargs: Any) -> Any:
        return without_resend(await get_session(*args, **kwargs))

    http_session._get_session = get_without_resend


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

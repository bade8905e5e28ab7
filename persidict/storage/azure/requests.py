"""One Azure Blob request: the SDK's async client, bounded retries, errors naming the path.

The SDK's own retries are off (``retry_total=0``: it would resend a
conditional upload blindly); :meth:`AzureRequests.request` retries an
idempotent request on transient failures with jittered back-off bounded in
count (``max_attempts``) and time (``request_timeout``), and ``commits``
decides for conditional ones. Failures become the OSError a dict user
catches, naming the ``az://`` path. Credentials: ``connection_string``,
``account_name`` with ``account_key``, ``sas_token`` or a ``credential``
(adlfs's names), else the ``AZURE_STORAGE_*`` environment variables, else
azure-identity's default credential where it is installed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from contextlib import suppress
from typing import Any

import aiohttp
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
)
from fsspec.asyn import get_loop, sync

from persidict.errors import BackendError
from persidict.storage.base import PreconditionFailed, RootNotFoundError
from persidict.storage.cloud_retry import PATIENCE, RetryBudget
from persidict.storage.no_resend import without_resend

REQUEST_TIMEOUT = 8.0
"""Default ``request_timeout``: seconds one request may wait to connect and for an answer."""
MAX_ATTEMPTS = 5
OWN_OPTIONS = ("request_timeout", "max_attempts", "ship_credentials")
"""Storage options of the store itself, never passed to the SDK."""
SECRETS = ("account_key", "connection_string", "sas_token", "credential", "client_secret")
"""Options left out of pickles unless ``ship_credentials=True``."""
CLIENT_OPTIONS = (
    "account_name",
    "account_host",
    "endpoint_url",
    "anon",
    "client_id",
    "tenant_id",
    *SECRETS,
)
"""Credential and endpoint options the store understands (adlfs's names, ``endpoint_url``)."""
_REFUSED_CODES = {"ServerBusy"}  # throttled before any work: not applied
_UNKNOWN_STATUS = {408, 500, 502, 503, 504}

# The SDK logs every request's and reply's headers at INFO: a mount's log at INFO
# filled with them (574 lines for two short mounts). Quiet unless the user set a level.
_HTTP_LOG = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
if _HTTP_LOG.level == logging.NOTSET:
    _HTTP_LOG.setLevel(logging.WARNING)


class AzureBlobError(BackendError):
    """Azure answered with an error; ``status`` is its HTTP status, ``code`` its error code."""

    def __init__(
        self, message: str, *, status: int = 0, code: str = "", operation: str = "", key=None
    ) -> None:
        super().__init__(message, backend="azure", operation=operation, key=key)
        self.status = status
        self.code = code

    def __reduce__(self):
        return (
            _rebuild,
            (type(self), str(self), self.status, self.code, self.operation, self.key),
        )


class AzureTimeoutError(AzureBlobError, TimeoutError):
    """No answer from the Azure endpoint within the configured ``request_timeout``."""


def _rebuild(cls, message, status, code, operation, key):
    return cls(message, status=status, code=code, operation=operation, key=key)


def _close(service: Any) -> None:
    """Close a client's HTTP session on the loop it lives on (at collection or exit)."""
    with suppress(Exception):
        sync(get_loop(), service.close, timeout=5)


class NotModified(Exception):
    """A conditional read found the ETag unchanged (HTTP 304)."""


def status_of(exc: BaseException) -> int:
    return int(getattr(exc, "status_code", 0) or 0) if isinstance(exc, HttpResponseError) else 0


def code_of(exc: BaseException) -> str:
    """Azure's error code (``BlobNotFound``, ``ConditionNotMet``, ...), '' if none."""
    code = getattr(exc, "error_code", "") or ""
    return str(getattr(code, "value", code))  # the SDK gives an enum or a string


def never_sent(exc: BaseException) -> bool:
    """True if the request surely did not reach the server (no connection was made).

    Not every ServiceRequestError: the SDK raises it for any aiohttp client
    error, a connection reset after the request went out included.
    """
    if isinstance(exc, ServiceRequestTimeoutError):  # the connect timeout
        return True
    if isinstance(exc, ServiceRequestError):
        return isinstance(exc.inner_exception or exc.__cause__, aiohttp.ClientConnectorError)
    return False


def refused(exc: BaseException) -> bool:
    """True if the server turned the request away without applying it (429, ServerBusy)."""
    return status_of(exc) == 429 or code_of(exc) in _REFUSED_CODES


def unknown_outcome(exc: BaseException) -> bool:
    """True for failures after which the request may or may not have been applied."""
    if never_sent(exc) or refused(exc):
        return False
    if isinstance(exc, HttpResponseError) and not isinstance(exc, ServiceResponseError):
        return status_of(exc) in _UNKNOWN_STATUS
    return isinstance(
        exc, (ServiceRequestError, ServiceResponseError, asyncio.TimeoutError, ConnectionError)
    )


def transient(exc: BaseException) -> bool:
    return never_sent(exc) or refused(exc) or unknown_outcome(exc)


class AzureRequests(RetryBudget):
    """Requests to ``container`` about paths relative to ``prefix`` (options: see AzureStore)."""

    def __init__(self, container: str, prefix: str, storage_options: dict[str, Any]) -> None:
        unknown = set(storage_options) - set(OWN_OPTIONS) - set(CLIENT_OPTIONS)
        if unknown:
            raise TypeError(
                f"unknown Azure storage option(s) {sorted(unknown)}; "
                f"known: {sorted((*CLIENT_OPTIONS, *OWN_OPTIONS))}"
            )
        self.container = container
        self.prefix = prefix
        self.storage_options = storage_options
        self.url = f"az://{container}/{prefix}".rstrip("/")
        self.request_timeout = float(storage_options.get("request_timeout", REQUEST_TIMEOUT))
        self.max_attempts = max(1, int(storage_options.get("max_attempts", MAX_ATTEMPTS)))
        self.endpoint = self._account_url()
        self._client: Any = None
        self._pid: int | None = None

    def _option(self, name: str, env: str) -> Any:
        return self.storage_options.get(name) or os.environ.get(env)

    def _connection_string(self) -> str | None:
        given = self.storage_options.get("connection_string")
        if given or self.storage_options.get("account_name"):
            return given
        return os.environ.get("AZURE_STORAGE_CONNECTION_STRING")

    def _account_url(self) -> str:
        endpoint = self.storage_options.get("endpoint_url")
        if endpoint:
            return str(endpoint).rstrip("/")
        connection = self._connection_string()
        if connection:
            parts = dict(p.split("=", 1) for p in connection.split(";") if "=" in p)
            if "BlobEndpoint" in parts:
                return parts["BlobEndpoint"].rstrip("/")
            account = parts.get("AccountName", "")
            suffix = parts.get("EndpointSuffix", "core.windows.net")
            return f"{parts.get('DefaultEndpointsProtocol', 'https')}://{account}.blob.{suffix}"
        account = self._option("account_name", "AZURE_STORAGE_ACCOUNT_NAME")
        if not account:
            raise ValueError(
                f"{self.url}: no Azure account: give account_name (or connection_string, "
                "or endpoint_url), or set AZURE_STORAGE_ACCOUNT_NAME"
            )
        host = self.storage_options.get("account_host") or f"{account}.blob.core.windows.net"
        return f"https://{host}"

    def _credential(self) -> Any:
        options = self.storage_options
        if options.get("anon"):
            return None
        key = self._option("account_key", "AZURE_STORAGE_ACCOUNT_KEY")
        if key:
            account = self._option("account_name", "AZURE_STORAGE_ACCOUNT_NAME")
            return {"account_name": account, "account_key": key}
        sas = self._option("sas_token", "AZURE_STORAGE_SAS_TOKEN")
        if sas:
            return sas
        if options.get("credential") is not None:
            return options["credential"]
        try:
            from azure.identity.aio import DefaultAzureCredential
        except ImportError:
            return None  # anonymous: public containers only
        return DefaultAzureCredential()

    async def container_client(self) -> Any:
        """The SDK's container client, made on this process's event loop."""
        if self._client is None or self._pid != os.getpid():
            from azure.core.pipeline.transport import AioHttpTransport
            from azure.storage.blob.aio import BlobServiceClient

            session = without_resend(aiohttp.ClientSession())
            timeouts = {
                "connection_timeout": min(5.0, self.request_timeout),
                "read_timeout": self.request_timeout,
            }
            # The timeouts go to the transport itself: the client's reach only one it makes.
            transport = AioHttpTransport(session=session, session_owner=True, **timeouts)
            settings: dict[str, Any] = {
                "transport": transport,
                "retry_total": 0,  # retried here, knowing what is safe
                **timeouts,
                "max_single_put_size": 16 << 20,  # beyond: staged blocks, committed at once
                "max_block_size": 8 << 20,
            }
            connection = self._connection_string()
            if connection and not self.storage_options.get("endpoint_url"):
                service = BlobServiceClient.from_connection_string(connection, **settings)
            else:
                service = BlobServiceClient(
                    self.endpoint, credential=self._credential(), **settings
                )
            self._client = service.get_container_client(self.container)
            self._pid = os.getpid()
            weakref.finalize(self, _close, service)
        return self._client

    async def blob(self, path: str) -> Any:
        return (await self.container_client()).get_blob_client(self.key(path))

    # names: a relative path <-> a blob name <-> an az:// URL
    def key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix and path else self.prefix or path

    def folder_key(self, path: str) -> str:
        key = self.key(path)
        return f"{key}/" if key else ""

    def relative(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name

    def where(self, path: str = "") -> str:
        """The ``az://`` URL of ``path``, as errors name it."""
        return f"az://{self.container}/{self.key(path)}".rstrip("/")

    # sending
    def run(self, coro_fn: Any, *args: Any) -> Any:
        """Run ``coro_fn(*args)`` on fsspec's event loop thread and return its result."""
        return sync(get_loop(), coro_fn, *args)

    async def call(self, coro_fn: Any, timeout: float | None = None) -> Any:
        """One attempt of ``coro_fn()``, bounded by the request timeout."""
        return await asyncio.wait_for(coro_fn(), timeout or 2 * self.request_timeout)

    # what a failure means (the commits' Wire)
    never_sent = staticmethod(never_sent)
    refused = staticmethod(refused)
    unknown_outcome = staticmethod(unknown_outcome)
    transient = staticmethod(transient)

    @staticmethod
    def answered(exc: BaseException) -> bool:
        return isinstance(exc, HttpResponseError) and status_of(exc) > 0

    async def request(
        self, coro_fn: Any, path: str | None, operation: str, patience: float = PATIENCE
    ) -> Any:
        """An idempotent request ``coro_fn()``, retried on transient failures."""
        start = time.monotonic()
        for attempt in range(self.max_attempts):
            try:
                return await self.call(coro_fn)
            except Exception as exc:
                if status_of(exc) == 304:
                    raise NotModified from exc
                if not self.may_retry(exc, attempt, start, patience):
                    raise await self.error(exc, path, operation) from exc
                await asyncio.sleep(self.pause(attempt, exc))
        raise AssertionError("unreachable")  # the last attempt raised

    async def error(self, exc: BaseException, path: str | None, operation: str) -> Exception:
        """The exception a user sees for ``exc``, naming the ``az://`` path."""
        where = self.where(path or "")
        status, code = status_of(exc), code_of(exc)
        if code == "ContainerNotFound" or (status == 404 and path is None):
            return RootNotFoundError(
                f"Azure container {self.container!r} ({where}) does not exist at {self.endpoint}"
            )
        if status == 404:
            return FileNotFoundError(f"{where} does not exist")
        if status in (409, 412) and code != "ContainerBeingDeleted":
            return PreconditionFailed(f"{where}: {code or status}")
        if status in (401, 403) or isinstance(exc, ClientAuthenticationError):
            return PermissionError(f"Azure {operation} on {where}: access denied ({code})")
        if isinstance(exc, asyncio.TimeoutError) or "timeout" in type(exc).__name__.lower():
            return AzureTimeoutError(
                f"Azure {operation} on {where}: no answer from {self.endpoint} "
                f"within {self.request_timeout} s",
                operation=operation,
            )
        if never_sent(exc):
            return ConnectionError(f"Azure {operation} on {where}: cannot reach {self.endpoint}")
        if isinstance(exc, OSError) and not isinstance(exc, AzureError):
            return exc
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return AzureBlobError(
            f"Azure {operation} on {where} failed: {message}",
            status=status,
            code=code,
            operation=operation,
        )

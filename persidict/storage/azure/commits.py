"""Writes to Azure Blob under the service's own preconditions (see ``cloud_commits``).

Exclusive create is an upload with ``If-None-Match: *``; compare-and-swap is
an upload or delete with ``If-Match: <ETag>``. A value above 16 MiB goes up
as staged blocks committed at once by one Put Block List, which carries the
same condition. Conditional requests are refused on an endpoint that
ignores the preconditions (probed once per endpoint and container).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError

from persidict.errors import ConditionalWritesUnsupportedError
from persidict.storage.azure.requests import AzureRequests, status_of
from persidict.storage.base import TEMP_PREFIX
from persidict.storage.cloud_commits import Body, CloudCommits
from persidict.storage.cloud_retry import READ_BACK_PATIENCE
from persidict.storage.s3_faults import Version, new_write_id

logger = logging.getLogger("persidict.storage.azure")

WRITE_ID = "persidict_write_id"
"""Metadata name of the id that tags every write (Azure's names are C# identifiers)."""
AFTER = "persidict_after"
"""Metadata name of the ids of the versions a write replaced, newest first."""
_PROBE_PREFIX = f"{TEMP_PREFIX}persidict-probe-"  # a store's own name: never listed
_SUPPORT: dict[tuple[str, str], tuple[bool, bool]] = {}  # (endpoint, container) -> answers
_ALL = "setdefault, pop, append-only writes, transform_item and the *_if operations"


def tag(etag: Any) -> str:
    """An ETag as the store names it: without the quotes (listings give none, replies do)."""
    return str(etag).strip('"')


def version_of(etag: str, metadata: dict[str, str] | None) -> Version:
    meta = {k.lower(): v for k, v in (metadata or {}).items()}
    return Version(tag(etag), meta.get(WRITE_ID), tuple(meta.get(AFTER, "").split()))


def if_match(etag: str) -> dict[str, Any]:
    """The SDK's arguments for ``If-Match: "<etag>"``."""
    return {"etag": f'"{etag}"', "match_condition": MatchConditions.IfNotModified}


def _conditions(condition: str | None) -> dict[str, Any]:
    if condition is None:
        return {}
    if condition == "*":
        return {"overwrite": False}  # If-None-Match: *
    return if_match(condition)


class AzureCommits(CloudCommits):
    """The writes of one Azure Blob store."""

    backend = "Azure"
    requests: AzureRequests

    async def send_upload(
        self, path: str, body: Body, write_id: str, after: str, condition: str | None
    ) -> str:
        meta = {WRITE_ID: write_id, AFTER: after} if after else {WRITE_ID: write_id}
        blob = await self.requests.blob(path)
        kwargs: dict[str, Any] = {"overwrite": True, "metadata": meta, **_conditions(condition)}
        if not isinstance(body, bytes):  # streamed from the file, in blocks beyond 16 MiB
            kwargs["length"] = body.seek(0, os.SEEK_END)
            body.seek(0)
        # A big upload is many requests: its bound grows with its size (8 MiB blocks).
        timeout = self.requests.request_timeout * (2 + kwargs.get("length", 0) / (8 << 20))
        resp = await self.requests.call(lambda: blob.upload_blob(body, **kwargs), timeout)
        return tag(resp["etag"])

    async def send_delete(self, path: str, condition: str | None) -> None:
        blob = await self.requests.blob(path)
        await self.requests.call(lambda: blob.delete_blob(**_conditions(condition)))

    async def stat(self, path: str) -> Version | None:
        blob = await self.requests.blob(path)
        try:
            props = await self.requests.request(
                blob.get_blob_properties, path, "read back", READ_BACK_PATIENCE
            )
        except FileNotFoundError:
            return None
        return self.seen.remember(path, version_of(props.etag, props.metadata))

    # endpoints that ignore preconditions
    async def require_conditional(self, *, deletes: bool = False) -> None:
        where = (self.requests.endpoint, self.requests.container)
        support = _SUPPORT.get(where)
        if support is None:
            support = _SUPPORT[where] = await self._probe()
        writes, deletes_ok = support
        if writes and (deletes_ok or not deletes):
            return
        what, refused = ("deletes", "pop and discard_if") if writes else ("uploads", _ALL)
        raise ConditionalWritesUnsupportedError(
            f"Azure endpoint {where[0]} (container {where[1]!r}, {self.requests.url}) ignores "
            f"If-None-Match/If-Match on {what}: {refused} would be silently wrong there, so "
            "they are refused; plain get/set/del work",
            backend="azure",
            operation="probe",
        )

    async def _probe(self) -> tuple[bool, bool]:
        """Do a create over an existing blob and writes with a wrong ETag fail (409/412)?

        The probe blob lives at the container's top under a name no listing
        shows (it carries the temp mark) and is removed at once.
        """
        client = await self.requests.container_client()
        blob = client.get_blob_client(f"{_PROBE_PREFIX}{new_write_id()}")
        call = self.requests.call
        first = await call(lambda: blob.upload_blob(b"probe", overwrite=True))
        wrong = if_match("0x0000000000000000")

        async def refused(send: Callable[[], Awaitable[Any]]) -> bool:
            try:
                await call(send)
            except HttpResponseError as exc:
                if status_of(exc) in (409, 412):
                    return True
                raise
            return False

        try:
            writes = await refused(lambda: blob.upload_blob(b"x", overwrite=False))
            writes &= await refused(lambda: blob.upload_blob(b"x", overwrite=True, **wrong))
            deletes = await refused(lambda: blob.delete_blob(**wrong))
        finally:
            with suppress(HttpResponseError):
                await call(blob.delete_blob)
        logger.info(
            "Azure endpoint %s for %s: preconditions on uploads %s, on deletes %s (probe %s)",
            self.requests.endpoint,
            self.requests.url,
            "honoured" if writes else "IGNORED",
            "honoured" if deletes else "IGNORED",
            first.get("etag"),
        )
        return writes, deletes

"""Writes to GCS under the service's own preconditions (see ``cloud_commits``).

Exclusive create is an upload with ``ifGenerationMatch=0``; compare-and-swap
is an upload or DELETE with ``ifGenerationMatch=<generation>`` (the
generation is the store's ETag). Conditional requests are refused on an
endpoint that ignores the preconditions (probed once per endpoint and
bucket; fake-gcs-server ignores them on DELETE).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import aiohttp

from persidict.errors import ConditionalWritesUnsupportedError
from persidict.storage.base import TEMP_PREFIX
from persidict.storage.cloud_commits import Body, CloudCommits
from persidict.storage.cloud_retry import READ_BACK_PATIENCE
from persidict.storage.gcs.requests import GCSRequests, HTTPStatus
from persidict.storage.s3_faults import AFTER, WRITE_ID, Version, new_write_id

logger = logging.getLogger("persidict.storage.gcs")

_PROBE_PREFIX = f"{TEMP_PREFIX}persidict-probe-"  # a store's own name: never listed
_SUPPORT: dict[tuple[str, str], tuple[bool, bool]] = {}  # (endpoint, bucket) -> (writes, deletes)
_BOUNDARY = "persidict-part-boundary"
_ALL = "setdefault, pop, append-only writes, transform_item and the *_if operations"


def version_of(resource: dict) -> Version:
    """The stored version an object resource (JSON) describes: generation and write ids."""
    meta = resource.get("metadata") or {}
    after = tuple(meta.get(AFTER, "").split())
    return Version(str(resource["generation"]), meta.get(WRITE_ID), after)


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


class GCSCommits(CloudCommits):
    """The writes of one GCS store."""

    backend = "GCS"
    requests: GCSRequests  # the Wire, with GCS's own calls

    async def send_upload(
        self, path: str, body: Body, write_id: str, after: str, condition: str | None
    ) -> str:
        meta = {WRITE_ID: write_id, AFTER: after} if after else {WRITE_ID: write_id}
        conditions = {}
        if condition is not None:
            generation = "0" if condition == "*" else condition
            if not generation.isdigit():  # no generation: nothing stored can match it
                raise HTTPStatus(412, f"no generation {condition!r}".encode())
            conditions["ifGenerationMatch"] = generation
        return await self._upload_named(self.requests.key(path), body, meta, **conditions)

    async def _upload_named(
        self, name: str, data: Body, meta: dict[str, str], **conditions: Any
    ) -> str:
        if isinstance(data, bytes):
            content: Any = _multipart(name, meta, data)
        else:  # streamed from the file: one request, never the whole value in memory
            data.seek(0)
            content = aiohttp.MultipartWriter("related", boundary=_BOUNDARY)
            content.append_json({"name": name, "metadata": meta})
            content.append(data, {"Content-Type": "application/octet-stream"})
        _, body = await self.requests.attempt(
            "POST",
            f"b/{self.requests.bucket}/o",
            upload=True,
            params={"uploadType": "multipart", **conditions},
            headers={"Content-Type": f'multipart/related; boundary="{_BOUNDARY}"'},
            data=content,
        )
        return str(json.loads(body)["generation"])

    async def send_delete(self, path: str, condition: str | None) -> None:
        params = {}
        if condition is not None:
            if not condition.isdigit():
                raise HTTPStatus(412, f"no generation {condition!r}".encode())
            params["ifGenerationMatch"] = condition
        url = self.requests.object_url(self.requests.key(path))
        await self.requests.attempt("DELETE", url, params=params)

    async def stat(self, path: str) -> Version | None:
        try:
            resource = await self.requests.json(
                "GET",
                self.requests.object_url(self.requests.key(path)),
                path,
                patience=READ_BACK_PATIENCE,
            )
        except FileNotFoundError:
            return None
        return self.seen.remember(path, version_of(resource))

    # endpoints that ignore preconditions
    async def require_conditional(self, *, deletes: bool = False) -> None:
        where = (self.requests.endpoint, self.requests.bucket)
        support = _SUPPORT.get(where)
        if support is None:
            support = _SUPPORT[where] = await self._probe()
        writes, deletes_ok = support
        if writes and (deletes_ok or not deletes):
            return
        what, refused = ("DELETE", "pop and discard_if") if writes else ("uploads", _ALL)
        raise ConditionalWritesUnsupportedError(
            f"GCS endpoint {where[0]} (bucket {where[1]!r}, {self.requests.url}) ignores "
            f"ifGenerationMatch on {what}: {refused} would be silently wrong there, so they "
            "are refused; plain get/set/del work",
            backend="gcs",
            operation="probe",
        )

    async def _probe(self) -> tuple[bool, bool]:
        """Do uploads and DELETEs with a wrong ``ifGenerationMatch`` fail (412)?

        The probe object lives at the bucket's top under a name no listing
        shows (it carries the temp mark) and is removed at once.
        """
        name = f"{_PROBE_PREFIX}{new_write_id()}"
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
        attempt = self.requests.attempt
        try:
            writes = await refused(
                lambda: self._upload_named(name, b"x", {}, ifGenerationMatch="0")
            )
            writes &= await refused(
                lambda: self._upload_named(name, b"x", {}, ifGenerationMatch=wrong)
            )
            deletes = await refused(
                lambda: attempt("DELETE", url, params={"ifGenerationMatch": wrong})
            )
        finally:
            with suppress(HTTPStatus):
                await attempt("DELETE", url)
        logger.info(
            "GCS endpoint %s for %s: preconditions on uploads %s, on DELETE %s",
            self.requests.endpoint,
            self.requests.url,
            "honoured" if writes else "IGNORED",
            "honoured" if deletes else "IGNORED",
        )
        return writes, deletes

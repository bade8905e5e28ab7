"""AzureStore: bytes under ``az://container/prefix`` (Azure Blob), one request per operation.

Its parts: ``requests`` (the SDK's async client, bounded retries, errors
naming the path) and ``commits`` (uploads and deletes under If-None-Match /
If-Match, lost replies settled by write ids). This module reads, lists, runs
batches concurrently on one event loop, and pickles without secrets. The
ETag of a stored file is the blob's ETag. Listings come from the service
every time (adlfs answered ``info`` from its listing cache, so a write into
a folder just listed failed although it was stored).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from azure.core import MatchConditions

from persidict.storage.azure.commits import AzureCommits, if_match, tag, version_of
from persidict.storage.azure.requests import SECRETS, AzureBlobError, AzureRequests, NotModified
from persidict.storage.base import ByteStore, Entry, Payload, PreconditionFailed, is_temp_name
from persidict.storage.cloud_batches import CloudBatches
from persidict.storage.s3_faults import SeenVersions

_PAGE = 5000


class AzureStore(CloudBatches, ByteStore):
    """Bytes at relative paths under ``root_prefix`` in Azure Blob container ``container``.

    ``storage_options``: ``account_name`` with ``account_key``, ``sas_token``
    or ``credential``; or ``connection_string``; ``endpoint_url`` (the blob
    service's URL, e.g. an emulator's ``http://127.0.0.1:10000/devstoreaccount1``)
    or ``account_host``; ``anon``; and the store's own: ``request_timeout``
    (seconds one request waits, default 8), ``max_attempts`` (tries of a
    transiently failing request, default 5), ``ship_credentials`` (put keys,
    SAS tokens and connection strings into pickles; workers otherwise take
    them from ``AZURE_STORAGE_*`` variables). ``create_bucket=True`` makes the
    container if it does not exist. An unknown option is a TypeError.
    """

    max_workers = 64

    def __init__(
        self,
        container: str,
        root_prefix: str = "",
        *,
        create_bucket: bool = False,
        **storage_options: Any,
    ) -> None:
        if not container or "/" in container:
            raise ValueError(f"invalid Azure container name {container!r}")
        self.container = container
        self.prefix = root_prefix.strip("/")
        self.storage_options = storage_options
        self.requests = AzureRequests(container, self.prefix, storage_options)
        self.url = self.requests.url
        self.seen = SeenVersions()
        self.commits = AzureCommits(self.requests, self.seen)
        if create_bucket:
            self.requests.run(self._create_container)

    async def _create_container(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        client = await self.requests.container_client()
        try:
            await self.requests.call(client.create_container)
        except ResourceExistsError:
            pass
        except Exception as exc:
            raise await self.requests.error(exc, None, "create container") from exc

    def __reduce__(self):
        options = dict(self.storage_options)
        if not options.get("ship_credentials"):
            for name in SECRETS:  # workers take theirs from AZURE_STORAGE_* variables
                options.pop(name, None)
        return (_rebuild, (self.container, self.prefix, options))

    # reading
    async def _download(self, path: str, **kwargs: Any) -> tuple[bytes, str]:
        blob = await self.requests.blob(path)

        async def get() -> tuple[bytes, Any]:
            stream = await blob.download_blob(**kwargs)
            return await stream.readall(), stream.properties

        data, props = await self.requests.request(get, path, "read")
        self.seen.remember(path, version_of(props.etag, props.metadata))
        return data, tag(props.etag)

    def read(self, path: str) -> bytes:
        return self.requests.run(self._download, path)[0]

    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        return self.requests.run(self._download, path)

    def read_if_changed(self, path: str, etag: str) -> tuple[bytes | None, str]:
        changed = {"etag": f'"{etag}"', "match_condition": MatchConditions.IfModified}
        try:
            return self.requests.run(lambda: self._download(path, **changed))
        except NotModified:
            return None, etag

    async def _range(self, path: str, start: int, end: int | None, etag: str | None) -> bytes:
        if end is not None and end <= start:
            return b""
        kwargs: dict[str, Any] = {"offset": start}
        if end is not None:
            kwargs["length"] = end - start
        if etag is not None:  # that version only: 412 once it is replaced
            kwargs.update(if_match(etag))
        try:
            return (await self._download(path, **kwargs))[0]
        except PreconditionFailed:
            raise PreconditionFailed(f"{self.url}/{path} is no longer ETag {etag}") from None
        except AzureBlobError as exc:
            if exc.code != "InvalidRange":
                raise
            if etag is not None:
                self._check(await self._info(path), etag)
            return b""  # past the end: nothing there, as for a slice

    def _check(self, entry: Entry, etag: str) -> None:
        if entry.etag != etag:
            raise PreconditionFailed(f"{self.url}/{entry.path} has ETag {entry.etag}, not {etag}")

    def read_range(self, path: str, start: int, end: int | None, etag: str | None = None) -> bytes:
        return self.requests.run(self._range, path, start, end, etag)

    async def _info(self, path: str) -> Entry:
        blob = await self.requests.blob(path)
        props = await self.requests.request(blob.get_blob_properties, path, "info")
        self.seen.remember(path, version_of(props.etag, props.metadata))
        return Entry(path, int(props.size), props.last_modified.timestamp(), tag(props.etag))

    def info(self, path: str) -> Entry:
        return self.requests.run(self._info, path)

    # writing
    def write(self, path: str, data: Payload) -> str:
        return self.requests.run(self.commits.put, path, data)

    def create(self, path: str, data: Payload) -> str | None:
        return self.requests.run(self.commits.create, path, data)

    def write_if(self, path: str, data: Payload, etag: str) -> str:
        return self.requests.run(self.commits.write_if, path, data, etag)

    def delete(self, path: str) -> None:
        self.requests.run(self.commits.delete, path)

    def delete_if(self, path: str, etag: str) -> None:
        self.requests.run(self.commits.delete_if, path, etag)

    def check_conditional_writes(self) -> None:
        """Probe now whether the endpoint honours preconditions (else it is done at first use)."""
        self.requests.run(self.commits.require_conditional)

    # listing
    async def _page(self, prefix: str, delimiter: bool, token: str | None) -> tuple[list, str]:
        client = await self.requests.container_client()

        async def one_page() -> tuple[list, str]:
            if delimiter:
                pager = client.walk_blobs(name_starts_with=prefix, results_per_page=_PAGE)
            else:
                pager = client.list_blobs(name_starts_with=prefix, results_per_page=_PAGE)
            pages = pager.by_page(continuation_token=token)
            page = await pages.__anext__()
            return [item async for item in page], pages.continuation_token

        return await self.requests.request(one_page, None, "list")

    def _items(self, prefix: str, delimiter: bool) -> Iterator[Any]:
        token: str | None = None
        while True:
            items, token = self.requests.run(self._page, prefix, delimiter, token)
            yield from items
            if not token:
                return

    def _entry(self, item: Any) -> Entry | None:
        path = self.requests.relative(item.name)
        name = path.rpartition("/")[2]
        if not name or is_temp_name(name):
            return None
        return Entry(path, int(item.size), item.last_modified.timestamp(), tag(item.etag))

    def walk(self, prefix: str = "") -> Iterator[Entry]:
        for item in self._items(self.requests.folder_key(prefix), delimiter=False):
            entry = self._entry(item)
            if entry is not None:
                yield entry

    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        files: list[Entry] = []
        folders: list[str] = []
        cut = len(self.requests.folder_key(prefix))
        for item in self._items(self.requests.folder_key(prefix), delimiter=True):
            if hasattr(item, "size"):
                entry = self._entry(item)
                if entry is not None:
                    files.append(entry)
            else:  # a BlobPrefix: a folder
                folder = item.name[cut:].rstrip("/")
                if folder and not is_temp_name(folder):
                    folders.append(folder)
        return files, folders

    # batches (the rest: cloud_batches)
    def read_many(self, paths: Iterable[str]) -> list[bytes | BaseException]:
        async def read(path: str) -> bytes:
            return (await self._download(path))[0]

        return self._gather(read, list(paths))


def _rebuild(container: str, prefix: str, options: dict[str, Any]) -> AzureStore:
    return AzureStore(container, prefix, **options)

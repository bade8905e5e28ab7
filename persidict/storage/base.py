"""The byte-store contract: bytes at relative paths under one root.

A store knows nothing of keys or values. Every write is atomic (a reader
sees the old bytes or the new ones); ``create`` is an atomic exclusive
create; ``write_if``/``delete_if`` are atomic compare-and-swap on ETags.
Paths are relative, ``/``-separated, and already validated by the caller.
Writes take a :data:`Payload`: bytes, or a callable that writes the bytes
into a binary file (so a big value streams into place without a copy).
"""

from __future__ import annotations

import io
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from itertools import groupby, islice
from typing import BinaryIO, cast

TEMP_MARK = "#"
"""Temp and lock files carry this mark; it never occurs in a key path."""

TEMP_PREFIX = "." + TEMP_MARK
"""Every name a store makes for itself (temp and lock files) starts with this."""

Payload = bytes | bytearray | memoryview | Callable[[BinaryIO], None]
"""What a write stores: the bytes, or a callable writing them into a binary file.

A callable is called once; if it raises, nothing is stored.
"""

MISSING = (FileNotFoundError, IsADirectoryError)
"""What a read of an absent path raises (a folder at the path is no stored file)."""

SPOOL_MAX = 8 << 20
"""A spooled payload moves from memory to a temp file beyond this many bytes."""


def is_temp_name(name: str) -> bool:
    """True for a store's own temp and lock file names (never listed as stored files).

    Only names starting with ``.#``: a user file with ``#`` elsewhere is ordinary.
    """
    return name.startswith(TEMP_PREFIX)


def payload_bytes(data: Payload) -> bytes | bytearray | memoryview:
    """The payload as bytes-like, calling a callable into an in-memory buffer."""
    if not callable(data):
        return data
    buffer = io.BytesIO()
    data(buffer)
    return buffer.getvalue()


def spool_payload(data: Payload) -> BinaryIO | bytes | bytearray | memoryview:
    """A bytes-like payload as is; a callable's output in a file positioned at 0.

    The file stays in memory up to ``SPOOL_MAX`` bytes, then moves to disk.
    If the callable raises, the file is closed and the error goes on.
    """
    if not callable(data):
        return data
    # typeshed's SpooledTemporaryFile is an IO[bytes], not a BinaryIO, though it is one
    spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX))  # noqa: SIM115
    try:
        data(spool)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


@dataclass(frozen=True)
class Entry:
    """What a listing or ``info`` says of one stored file."""

    path: str
    size: int
    mtime: float
    etag: str | None = None
    written: float | None = None
    """When the store last wrote the file, where that differs from a set ``mtime``
    (S3's LastModified beside an rclone-style ``mtime`` in metadata); else None."""

    @property
    def write_time(self) -> float:
        """The time a dict's timestamps use, the same from a listing and from ``info``."""
        return self.mtime if self.written is None else self.written


class PreconditionFailed(Exception):
    """A conditional write or delete found another version (or none)."""


class RootNotFoundError(OSError):
    """The store's root itself (an S3 bucket, say) does not exist.

    Not a FileNotFoundError, so that a dict never mistakes it for a missing key.
    """


def _folder_of(path: str) -> str:
    return path.rpartition("/")[0]


class ByteStore(ABC):
    """Bytes at relative paths under one root; see the module docstring."""

    url: str
    max_workers: int = 16
    is_local: bool = False
    """True for folders on this machine's filesystem, where a folder outlives its last file."""

    @abstractmethod
    def read(self, path: str) -> bytes:
        """Bytes at ``path``; FileNotFoundError if absent."""

    @abstractmethod
    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        """Bytes at ``path`` and their ETag, read as one version."""

    def read_if_changed(self, path: str, etag: str) -> tuple[bytes | None, str]:
        """``(None, etag)`` if the stored ETag is still ``etag``, else the new bytes."""
        data, new_etag = self.read_with_etag(path)
        return (None, etag) if new_etag == etag else (data, new_etag)

    def read_range(self, path: str, start: int, end: int | None, etag: str | None = None) -> bytes:
        """Bytes ``[start:end]`` at ``path``.

        With ``etag``, PreconditionFailed if the stored version has another ETag.
        """
        if etag is None:
            return self.read(path)[start:end]
        data, current = self.read_with_etag(path)
        if current != etag:
            raise PreconditionFailed(f"{self.url}/{path} has ETag {current}, not {etag}")
        return data[start:end]

    def open_read(self, path: str) -> BinaryIO:
        """A readable, seekable binary file of one version of the bytes at ``path``.

        FileNotFoundError if absent. The caller closes it.
        """
        return io.BytesIO(self.read(path))

    def read_or_open(self, path: str, limit: int) -> bytes | BinaryIO:
        """The bytes at ``path`` if they are at most ``limit``, else an open file of them.

        Lets a reader decode a small value from bytes (cheapest) and stream a
        big one, deciding on the stored size without a separate request. The
        file, if any, is one version (as :meth:`open_read`); the caller closes
        it. Default: the bytes, always.
        """
        return self.read(path)

    def read_head(self, path: str, limit: int) -> tuple[bytes, int, str]:
        """The first ``limit`` bytes at ``path``, its size and its ETag, all of one version.

        FileNotFoundError if absent. Default: ``info``, then a read pinned to its ETag.
        """
        entry = self.info(path)
        etag = str(entry.etag)
        return self.read_range(path, 0, min(limit, entry.size), etag=etag), entry.size, etag

    def set_mtime(self, path: str, mtime: float) -> None:
        """Set the modification time (seconds since the epoch) of ``path``."""
        raise io.UnsupportedOperation(f"{self.url} cannot set modification times")

    def make_folder(self, path: str) -> None:
        """Make an empty folder at ``path`` that persists (and its parents).

        FileExistsError if a stored file is at ``path``; nothing if the folder exists.
        """
        raise io.UnsupportedOperation(f"{self.url} cannot hold empty folders")

    def remove_folder(self, path: str) -> None:
        """Remove the empty folder at ``path``; OSError (ENOTEMPTY) if it holds files."""
        raise io.UnsupportedOperation(f"{self.url} cannot hold empty folders")

    @abstractmethod
    def write(self, path: str, data: Payload) -> str:
        """Atomically store ``data`` at ``path``; returns the new ETag."""

    @abstractmethod
    def create(self, path: str, data: Payload) -> str | None:
        """Store ``data`` only if ``path`` is absent, atomically.

        Returns the new ETag, or None if something was already there.
        """

    @abstractmethod
    def write_if(self, path: str, data: Payload, etag: str) -> str:
        """Replace the bytes at ``path`` only if its ETag is ``etag``.

        Returns the new ETag; raises :class:`PreconditionFailed` otherwise.
        """

    @abstractmethod
    def delete(self, path: str) -> None:
        """Remove ``path``; FileNotFoundError if absent."""

    @abstractmethod
    def delete_if(self, path: str, etag: str) -> None:
        """Remove ``path`` only if its ETag is ``etag``; else PreconditionFailed."""

    @abstractmethod
    def info(self, path: str) -> Entry:
        """Size, mtime and ETag of ``path``; FileNotFoundError if absent."""

    def exists(self, path: str) -> bool:
        try:
            self.info(path)
        except FileNotFoundError:
            return False
        return True

    @abstractmethod
    def walk(self, prefix: str = "") -> Iterator[Entry]:
        """Every stored file under folder ``prefix`` ('' is the root), recursively."""

    def walk_with_folders(self, prefix: str = "") -> Iterator[Entry | str]:
        """``walk``, and the folders under ``prefix`` (their paths, as ``str``), in one listing.

        Every folder that persists empty comes; folders holding files may come
        too. Default: the files only (a store whose folders are where files are).
        """
        return iter(self.walk(prefix))

    def iter_paths(self, prefix: str = "") -> Iterator[str]:
        """Relative paths of stored files under ``prefix`` (cheapest listing)."""
        return (e.path for e in self.walk(prefix))

    def iter_folders(self, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
        """Stored files under ``prefix`` as ``(folder, names of files in it)``.

        The same folder may come more than once. Listing by folder lets a
        dict decode each folder's part of the keys once, not once per file.
        """
        for folder, paths in groupby(self.iter_paths(prefix), key=_folder_of):
            cut = len(folder) + 1 if folder else 0
            while names := [p[cut:] for p in islice(paths, 4096)]:  # bounded memory
                yield folder, names

    @abstractmethod
    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        """Files directly in folder ``prefix``, and names of its sub-folders."""

    def is_empty(self, prefix: str = "") -> bool:
        """True if no file is stored under ``prefix`` (stops at the first one)."""
        return next(iter(self.walk(prefix)), None) is None

    # Batches: thread pools by default; async backends override them.
    def read_many(self, paths: Iterable[str]) -> list[bytes | BaseException]:
        """Bytes for each path, or the exception reading it raised."""
        return self._map(self.read, list(paths))

    def write_many(self, items: Mapping[str, Payload]) -> list[str | BaseException]:
        return self._map(lambda kv: self.write(*kv), list(items.items()))

    def create_many(self, items: Mapping[str, Payload]) -> list[str | BaseException | None]:
        """``create`` for each item: the new ETag, None where something was there."""
        return self._map(lambda kv: self.create(*kv), list(items.items()))

    def delete_many(
        self, paths: Iterable[str], *, missing_ok: bool = False
    ) -> list[BaseException | None]:
        """Delete each path; FileNotFoundError per absent path unless ``missing_ok``."""
        if not missing_ok:
            return self._map(self.delete, list(paths))

        def delete_if_there(path: str) -> None:
            with suppress(FileNotFoundError):
                self.delete(path)

        return self._map(delete_if_there, list(paths))

    def _map(self, func, args: list) -> list:
        def call(arg):
            try:
                return func(arg)
            except Exception as exc:  # handed back per item, raised by the caller
                return exc

        if len(args) <= 1:
            return [call(a) for a in args]
        with ThreadPoolExecutor(min(self.max_workers, len(args))) as pool:
            return list(pool.map(call, args))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

"""FsspecStore: bytes under one root folder of any fsspec filesystem.

Used for ``memory://`` and for backends without a dedicated store. A single
upload is atomic on object stores. Conditional writes, plain writes and
deletes all commit under a lock shared by every store on the same
filesystem object in this process, which is exact only within one process.
So conditional operations (create, write_if, delete_if) run on ``memory://``
(which lives in one process) and where the user declares single-process use
(``single_process=True``); elsewhere they raise
ConditionalWritesUnsupportedError naming the URL, never a silent wrong
answer between processes. An ETag is the backend's own (ETag or MD5 field) where it has
one, else the size and modification time it reports (for ``memory://``,
the microsecond each version was made), so ``info`` never downloads a value.
Local folders and S3 have their own stores with OS- and server-level
guarantees.
"""

from __future__ import annotations

import errno
import threading
import weakref
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import fsspec

from persidict.errors import ConditionalWritesUnsupportedError
from persidict.storage.base import (
    ByteStore,
    Entry,
    Payload,
    PreconditionFailed,
    is_temp_name,
    payload_bytes,
)


def _mtime(info: dict[str, Any]) -> float:
    for field in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(field)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0


_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # filesystem -> its lock
_LOCKS_GUARD = threading.Lock()


def _lock_of(fs: fsspec.AbstractFileSystem) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(fs, threading.RLock())


_ETAG_FIELDS = ("ETag", "etag", "md5Hash", "md5", "content_md5")


def _etag(info: dict[str, Any]) -> str:
    """The backend's version tag of a file, else its size and time to the microsecond."""
    for field in _ETAG_FIELDS:
        value = info.get(field)
        if value:
            return str(value).strip('"')
    return f"{int(info.get('size') or 0):x}-{_mtime(info):.6f}"


def _entry(rel: str, info: dict[str, Any]) -> Entry:
    return Entry(rel, int(info.get("size") or 0), _mtime(info), _etag(info))


_SINGLE_PROCESS_PROTOCOLS = {"memory"}
"""Filesystems that live inside one process: their lock is exact."""


def single_process_by_nature(fs: fsspec.AbstractFileSystem) -> bool:
    """True for a filesystem no other process can see (``memory://``)."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
    return bool(_SINGLE_PROCESS_PROTOCOLS.intersection(protocols))


class FsspecStore(ByteStore):
    """Bytes at relative paths under ``root`` on the fsspec filesystem ``fs``.

    ``single_process=True`` declares that only this process writes there, so
    conditional operations may rely on this process's lock; without it they
    are refused on every filesystem other processes can see.
    """

    def __init__(
        self, fs: fsspec.AbstractFileSystem, root: str, *, single_process: bool = False
    ) -> None:
        self.fs = fs
        self.root = fs._strip_protocol(root).rstrip("/")
        self.url = fs.unstrip_protocol(self.root)
        self.single_process = single_process
        self.conditional_across_processes = single_process_by_nature(fs)
        self._lock = _lock_of(fs)
        fs.makedirs(self.root, exist_ok=True)

    def __reduce__(self):
        return (_reopen, (type(self), self.fs, self.root, self.single_process))

    def _require_conditional(self, operation: str) -> None:
        if self.single_process or self.conditional_across_processes:
            return
        raise ConditionalWritesUnsupportedError(
            f"{self.url}: {type(self.fs).__name__} has no precondition that holds across "
            f"processes, so {operation} (behind setdefault, pop, transform_item, append-only "
            "writes and the *_if operations) is refused; plain get/set/del work. If only this "
            "process writes there, open it with single_process=True (-o single_process=true)",
            backend=str(self.fs.protocol),
            operation=operation,
        )

    def full_path(self, path: str) -> str:
        return f"{self.root}/{path}" if path else self.root

    def _relative(self, full: str) -> str:
        full = full.lstrip("/")
        root = self.root.lstrip("/")
        return full[len(root) + 1 :] if root else full

    def read(self, path: str) -> bytes:
        return self.fs.cat_file(self.full_path(path))

    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        with self._lock:  # no commit of this process between the two
            etag = _etag(self._file_info(path))
            return self.read(path), etag

    def read_range(self, path: str, start: int, end: int | None, etag: str | None = None) -> bytes:
        if etag is None:
            return self.fs.cat_file(self.full_path(path), start=start, end=end)
        with self._lock:
            self._check_etag(path, etag)
            return self.fs.cat_file(self.full_path(path), start=start, end=end)

    def _file_info(self, path: str) -> dict[str, Any]:
        """fsspec's info of the stored file at ``path``; FileNotFoundError if none."""
        full = self.full_path(path)
        info = self.fs.info(full)
        if info.get("type") != "file":
            raise FileNotFoundError(f"{full} is not a stored file")
        return info

    def info(self, path: str) -> Entry:
        return _entry(path, self._file_info(path))

    def _put(self, path: str, data: bytes | bytearray | memoryview) -> str:
        full = self.full_path(path)
        self.fs.pipe_file(full, bytes(data))
        return _etag(self.fs.info(full))

    def write(self, path: str, data: Payload) -> str:
        data = payload_bytes(data)  # outside the lock: the callable may be slow
        with self._lock:
            return self._put(path, data)

    def create(self, path: str, data: Payload) -> str | None:
        self._require_conditional("an exclusive create")
        data = payload_bytes(data)
        with self._lock:
            if self.exists(path):
                return None
            return self._put(path, data)

    def _check_etag(self, path: str, etag: str) -> None:
        try:
            current = self.info(path).etag
        except FileNotFoundError:
            raise PreconditionFailed(f"{self.full_path(path)} is absent") from None
        if current != etag:
            raise PreconditionFailed(f"{self.full_path(path)} has ETag {current}, not {etag}")

    def write_if(self, path: str, data: Payload, etag: str) -> str:
        self._require_conditional("a compare-and-swap")
        data = payload_bytes(data)
        with self._lock:
            self._check_etag(path, etag)
            return self._put(path, data)

    def delete(self, path: str) -> None:
        full = self.full_path(path)
        with self._lock:
            if not self.exists(path):
                raise FileNotFoundError(full)
            self.fs.rm_file(full)

    def delete_if(self, path: str, etag: str) -> None:
        self._require_conditional("a conditional delete")
        with self._lock:
            self._check_etag(path, etag)
            self.fs.rm_file(self.full_path(path))

    def make_folder(self, path: str) -> None:
        full = self.full_path(path)
        with self._lock:
            if self.fs.isfile(full):
                raise FileExistsError(errno.EEXIST, "a stored file is there", full)
            self.fs.makedirs(full, exist_ok=True)

    def remove_folder(self, path: str) -> None:
        full = self.full_path(path)
        with self._lock:
            if self.fs.ls(full, detail=False):
                raise OSError(errno.ENOTEMPTY, "folder not empty", full)
            self.fs.rmdir(full)

    def exists(self, path: str) -> bool:
        return self.fs.isfile(self.full_path(path))

    def walk(self, prefix: str = "") -> Iterator[Entry]:
        return self._walk(prefix, withdirs=False)  # type: ignore[return-value]  # files only

    def walk_with_folders(self, prefix: str = "") -> Iterator[Entry | str]:
        return self._walk(prefix, withdirs=True)

    def _walk(self, prefix: str, withdirs: bool) -> Iterator[Entry | str]:
        base = self.full_path(prefix)
        self.fs.invalidate_cache(base)
        try:
            found = self.fs.find(base, withdirs=withdirs, detail=True)
        except FileNotFoundError:
            return
        inside = f"{prefix}/" if prefix else ""
        for full, info in sorted(found.items()):
            rel = self._relative(full)
            # find() on a file's own path returns that file: it is not under the folder
            if not rel.startswith(inside) or not rel or is_temp_name(rel.rpartition("/")[2]):
                continue
            if info.get("type") == "file":
                yield _entry(rel, info)
            elif info.get("type") == "directory":
                yield rel

    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        base = self.full_path(prefix)
        self.fs.invalidate_cache(base)
        try:
            listing = self.fs.ls(base, detail=True)
        except FileNotFoundError:
            return [], []
        files, dirs = [], []
        for info in listing:
            rel = self._relative(info["name"])
            name = rel.rpartition("/")[2]
            if not rel or is_temp_name(name) or rel == prefix:
                continue
            if info.get("type") == "directory":
                dirs.append(name)
            else:
                files.append(_entry(rel, info))
        return files, dirs


def _reopen(cls, fs, root, single_process):
    return cls(fs, root, single_process=single_process)

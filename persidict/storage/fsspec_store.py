"""FsspecStore: bytes under one root folder of any fsspec filesystem.

Used for ``memory://`` and for backends without a dedicated store (gcs,
azure, ...). A single upload is atomic on object stores. Conditional
writes are checked and committed under a lock shared by every store on
the same filesystem object in this process: exact for ``memory://``
(which lives in one process), best-effort across processes elsewhere.
An ETag is the MD5 of the content, the same whatever the backend reports.
Local folders and S3 have their own stores with OS- and server-level
guarantees.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import fsspec

from persidict.storage.base import TEMP_MARK, ByteStore, Entry, PreconditionFailed


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


def _content_etag(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class FsspecStore(ByteStore):
    """Bytes at relative paths under ``root`` on the fsspec filesystem ``fs``."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        self.fs = fs
        self.root = fs._strip_protocol(root).rstrip("/")
        self.url = fs.unstrip_protocol(self.root)
        self._lock = _lock_of(fs)
        fs.makedirs(self.root, exist_ok=True)

    def __reduce__(self):
        return (type(self), (self.fs, self.root))

    def full_path(self, path: str) -> str:
        return f"{self.root}/{path}" if path else self.root

    def _relative(self, full: str) -> str:
        full = full.lstrip("/")
        root = self.root.lstrip("/")
        return full[len(root) + 1 :] if root else full

    def read(self, path: str) -> bytes:
        return self.fs.cat_file(self.full_path(path))

    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        data = self.read(path)
        return data, _content_etag(data)

    def read_range(self, path: str, start: int, end: int | None) -> bytes:
        return self.fs.cat_file(self.full_path(path), start=start, end=end)

    def info(self, path: str) -> Entry:
        full = self.full_path(path)
        info = self.fs.info(full)
        if info.get("type") != "file":
            raise FileNotFoundError(f"{full} is not a stored file")
        etag = _content_etag(self.read(path))
        return Entry(path, int(info.get("size") or 0), _mtime(info), etag)

    def write(self, path: str, data: bytes) -> str:
        self.fs.pipe_file(self.full_path(path), bytes(data))
        return _content_etag(data)

    def create(self, path: str, data: bytes) -> str | None:
        with self._lock:
            if self.exists(path):
                return None
            return self.write(path, data)

    def _check_etag(self, path: str, etag: str) -> None:
        try:
            current = self.info(path).etag
        except FileNotFoundError:
            raise PreconditionFailed(f"{self.full_path(path)} is absent") from None
        if current != etag:
            raise PreconditionFailed(f"{self.full_path(path)} has ETag {current}, not {etag}")

    def write_if(self, path: str, data: bytes, etag: str) -> str:
        with self._lock:
            self._check_etag(path, etag)
            return self.write(path, data)

    def delete(self, path: str) -> None:
        full = self.full_path(path)
        if not self.exists(path):
            raise FileNotFoundError(full)
        self.fs.rm_file(full)

    def delete_if(self, path: str, etag: str) -> None:
        with self._lock:
            self._check_etag(path, etag)
            self.fs.rm_file(self.full_path(path))

    def exists(self, path: str) -> bool:
        return self.fs.isfile(self.full_path(path))

    def walk(self, prefix: str = "") -> Iterator[Entry]:
        base = self.full_path(prefix)
        self.fs.invalidate_cache(base)
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return
        inside = f"{prefix}/" if prefix else ""
        for full, info in sorted(found.items()):
            rel = self._relative(full)
            # find() on a file's own path returns that file: it is not under the folder
            if (
                info.get("type") == "file"
                and TEMP_MARK not in rel
                and rel.startswith(inside)
                and rel
            ):
                yield Entry(rel, int(info.get("size") or 0), _mtime(info))

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
            if not rel or TEMP_MARK in name or rel == prefix:
                continue
            if info.get("type") == "directory":
                dirs.append(name)
            else:
                files.append(Entry(rel, int(info.get("size") or 0), _mtime(info)))
        return files, dirs

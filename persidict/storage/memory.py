"""MemoryStore: bytes in a dict of this process; NullStore: a store that keeps nothing.

MemoryStore serves LocalDict. Every commit holds one lock, so create,
write_if and delete_if are exact compare-and-swaps between threads. An
ETag is a counter that never repeats, so a rewrite with equal bytes still
gets a new ETag. The data lives as long as the store object: it is not
shared with other processes and cannot be pickled.
"""

from __future__ import annotations

import errno
import io
import itertools
import threading
import time
from collections.abc import Iterator

from persidict.storage.base import ByteStore, Entry, Payload, PreconditionFailed, payload_bytes


class MemoryStore(ByteStore):
    """Bytes at relative paths, held in memory by this object."""

    def __init__(self) -> None:
        self.url = f"memory-store:{id(self):x}"
        self._files: dict[str, tuple[bytes, str, float]] = {}
        self._folders: set[str] = set()  # empty folders made by make_folder
        self._lock = threading.Lock()
        self._versions = itertools.count(1)

    def __reduce__(self):
        raise TypeError(
            "an in-memory store (LocalDict) lives in one process and cannot be pickled; "
            "use FileDirDict or S3Dict to share a dict between processes"
        )

    def _get(self, path: str) -> tuple[bytes, str, float]:
        try:
            return self._files[path]
        except KeyError:
            raise FileNotFoundError(f"{self.url}/{path}") from None

    def _put(self, path: str, data: bytes | bytearray | memoryview) -> str:
        if path in self._folders:
            raise IsADirectoryError(f"{self.url}/{path} is a folder")
        etag = f"v{next(self._versions)}"
        self._files[path] = (bytes(data), etag, time.time())
        return etag

    def read(self, path: str) -> bytes:
        return self._get(path)[0]

    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        data, etag, _ = self._get(path)
        return data, etag

    def info(self, path: str) -> Entry:
        data, etag, mtime = self._get(path)
        return Entry(path, len(data), mtime, etag)

    def exists(self, path: str) -> bool:
        return path in self._files

    def write(self, path: str, data: Payload) -> str:
        data = payload_bytes(data)  # outside the lock: the callable may be slow
        with self._lock:
            return self._put(path, data)

    def create(self, path: str, data: Payload) -> str | None:
        data = payload_bytes(data)
        with self._lock:
            return None if path in self._files else self._put(path, data)

    def _check(self, path: str, etag: str) -> None:
        current = self._files.get(path)
        if current is None or current[1] != etag:
            raise PreconditionFailed(f"{self.url}/{path} is not at ETag {etag}")

    def write_if(self, path: str, data: Payload, etag: str) -> str:
        data = payload_bytes(data)
        with self._lock:
            self._check(path, etag)
            return self._put(path, data)

    def delete(self, path: str) -> None:
        with self._lock:
            self._get(path)
            del self._files[path]

    def delete_if(self, path: str, etag: str) -> None:
        with self._lock:
            self._check(path, etag)
            del self._files[path]

    def set_mtime(self, path: str, mtime: float) -> None:
        with self._lock:
            data, etag, _ = self._get(path)
            self._files[path] = (data, etag, mtime)

    def make_folder(self, path: str) -> None:
        with self._lock:
            if path in self._files:
                raise FileExistsError(f"{self.url}/{path} is a stored file")
            self._folders.add(path)

    def remove_folder(self, path: str) -> None:
        with self._lock:
            inside = f"{path}/"
            if any(p.startswith(inside) for p in self._files) or any(
                f.startswith(inside) for f in self._folders
            ):
                raise OSError(errno.ENOTEMPTY, "folder not empty", f"{self.url}/{path}")
            if path not in self._folders:
                raise FileNotFoundError(f"{self.url}/{path} is no empty folder")
            self._folders.discard(path)

    def walk(self, prefix: str = "") -> Iterator[Entry]:
        start = f"{prefix}/" if prefix else ""
        with self._lock:
            snapshot = [(p, f) for p, f in self._files.items() if p.startswith(start)]
        for path, (data, etag, mtime) in snapshot:
            yield Entry(path, len(data), mtime, etag)

    def walk_with_folders(self, prefix: str = "") -> Iterator[Entry | str]:
        yield from self.walk(prefix)
        start = f"{prefix}/" if prefix else ""
        with self._lock:
            yield from sorted(f for f in self._folders if f.startswith(start))

    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        start = f"{prefix}/" if prefix else ""
        files, dirs = [], set()
        for entry in self.walk(prefix):
            name, sep, _ = entry.path[len(start) :].partition("/")
            if sep:
                dirs.add(name)
            else:
                files.append(entry)
        with self._lock:
            folders = [f for f in self._folders if f.startswith(start) and f != prefix]
        dirs.update(f[len(start) :].partition("/")[0] for f in folders)
        return files, sorted(dirs)


class NullStore(ByteStore):
    """Accepts every write and keeps nothing, like ``/dev/null``; serves EmptyDict."""

    url = "null:"
    DISCARDED = "discarded"
    """The ETag every accepted write reports."""

    def read(self, path: str) -> bytes:
        raise FileNotFoundError(f"{self.url}{path}")

    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        raise FileNotFoundError(f"{self.url}{path}")

    def info(self, path: str) -> Entry:
        raise FileNotFoundError(f"{self.url}{path}")

    def write(self, path: str, data: Payload) -> str:
        if callable(data):  # a value that cannot be written still raises
            data(_Discard())
        return self.DISCARDED

    def create(self, path: str, data: Payload) -> str | None:
        return self.write(path, data)

    def write_if(self, path: str, data: Payload, etag: str) -> str:
        raise PreconditionFailed(f"{self.url}{path} is absent")

    def delete(self, path: str) -> None:
        raise FileNotFoundError(f"{self.url}{path}")

    def delete_if(self, path: str, etag: str) -> None:
        raise PreconditionFailed(f"{self.url}{path} is absent")

    def walk(self, prefix: str = "") -> Iterator[Entry]:
        return iter(())

    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        return [], []


class _Discard(io.BytesIO):
    """A writable binary file that keeps nothing."""

    def write(self, b) -> int:
        return len(b)

"""LocalStore: a folder on a local or network (NFS) filesystem, via ``os``.

Mechanism (the same on one machine and on NFS):
- ``write`` puts the bytes in a hidden temp file beside the target, then
  ``os.replace``-s it over the target: readers see old or new bytes only.
- ``create`` hard-links a finished temp file to the target; ``link`` fails
  if the target exists, so exactly one of racing creators wins.
- ``write_if``/``delete_if``/``write``/``delete`` commit while holding an
  exclusive ``flock`` on the descriptor of the key's own folder (a lock
  file ``.#lock`` only where a folder cannot be locked, as on NFS),
  so a compare-and-swap can never interleave with another commit, whatever
  root each writer opened the store at (``data`` or ``data/users``). Reads
  take no lock. The lock is held only for the check and the rename.
- An ETag is ``inode-mtime_ns-size``: every commit makes a new inode.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import BinaryIO

from persidict.storage.base import (
    TEMP_PREFIX,
    ByteStore,
    Entry,
    Payload,
    PreconditionFailed,
    is_temp_name,
)

LOCK_NAME = ".#lock"  # only where a folder cannot be locked (NFS)
_LOCK_FLAGS = os.O_RDWR | os.O_CREAT
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NO_FOLDER_LOCK = (errno.EBADF, errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL)
_READ_CHUNK = 1 << 16  # most values fit in one read
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL
_NAMES_CHUNK = 4096


def _etag(st: os.stat_result) -> str:
    return f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"


def _entry(path: str, st: os.stat_result) -> Entry:
    return Entry(path, st.st_size, st.st_mtime, _etag(st))


# Temp names are unique without a getrandom call per write: a random token
# per process (renewed in a forked child) and a counter.
_temp_token = secrets.token_hex(6)
_temp_counter = itertools.count()


def _renew_temp_token() -> None:
    global _temp_token
    _temp_token = secrets.token_hex(6)


os.register_at_fork(after_in_child=_renew_temp_token)


def _read_rest(fd: int, size: int) -> bytes:
    """The rest of a file: ``size`` bytes (-1: all) or up to its end."""
    chunks = []
    while size:
        chunk = os.read(fd, _READ_CHUNK * 16 if size < 0 else size)
        if not chunk:
            break
        chunks.append(chunk)
        if size > 0:
            size -= len(chunk)
    return b"".join(chunks)


def _unlink_quietly(path: str) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)


class LocalStore(ByteStore):
    """Bytes at relative paths under the folder ``root``.

    ``durable=True`` also fsyncs each written file and its folder, so a
    commit survives a power cut, at a large cost in speed.
    """

    is_local = True

    def __init__(self, root: str, *, durable: bool = False) -> None:
        self.root = os.path.abspath(os.path.expanduser(os.fspath(root)))
        self.url = self.root
        self._slash_root = self.root if self.root.endswith("/") else self.root + "/"
        self.durable = durable
        os.makedirs(self.root, exist_ok=True)

    def __reduce__(self):
        return (type(self), (self.root,), {"durable": self.durable})

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def full_path(self, path: str) -> str:
        # Plain concatenation: paths are relative and validated by the caller.
        return f"{self._slash_root}{path}" if path else self.root

    # reading: os.open + os.read, without the buffered-file layers
    def _read_fd(self, path: str) -> tuple[bytes, os.stat_result]:
        full = self.full_path(path)
        fd = os.open(full, os.O_RDONLY)
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "a folder, not a stored file", full)
            # Committed files are never changed in place (every write is a new
            # inode), so the size fstat gives is the size to read.
            data = os.read(fd, st.st_size)
            if len(data) < st.st_size:
                data += _read_rest(fd, st.st_size - len(data))
            return data, st
        finally:
            os.close(fd)

    def read(self, path: str) -> bytes:
        # Read to end of file without an fstat: a second read that returns b""
        # is cheaper, and needs no trust in the size.
        full = self.full_path(path)
        fd = os.open(full, os.O_RDONLY)
        try:
            data = os.read(fd, _READ_CHUNK)
            if data:
                more = os.read(fd, _READ_CHUNK)
                if more:
                    data = b"".join([data, more, _read_rest(fd, -1)])
            return data
        except IsADirectoryError:
            raise IsADirectoryError(errno.EISDIR, "a folder, not a stored file", full) from None
        finally:
            os.close(fd)

    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        data, st = self._read_fd(path)
        return data, _etag(st)

    def read_if_changed(self, path: str, etag: str) -> tuple[bytes | None, str]:
        with open(self.full_path(path), "rb") as f:
            current = _etag(os.fstat(f.fileno()))
            return (None, etag) if current == etag else (f.read(), current)

    def read_range(
        self, path: str, start: int, end: int | None, etag: str | None = None
    ) -> bytes:
        with open(self.full_path(path), "rb") as f:
            if etag is not None:
                current = _etag(os.fstat(f.fileno()))
                if current != etag:
                    raise PreconditionFailed(f"{f.name} has ETag {current}, not {etag}")
            f.seek(start)
            return f.read() if end is None else f.read(max(0, end - start))

    def open_read(self, path: str) -> BinaryIO:
        return open(self.full_path(path), "rb")  # one inode: a later commit is a new one

    def info(self, path: str) -> Entry:
        full = self.full_path(path)
        st = os.stat(full)
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a stored file", full)
        return _entry(path, st)

    def exists(self, path: str) -> bool:
        return os.path.isfile(self.full_path(path))

    # writing
    def _write_temp(self, full: str, data: Payload) -> tuple[str, str]:
        folder, _, name = full.rpartition("/")
        for attempt in range(3):
            tmp = f"{folder}/{TEMP_PREFIX}{name[:100]}.{_temp_token}-{next(_temp_counter)}"
            try:
                fd = os.open(tmp, _TEMP_FLAGS, 0o644)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
                os.makedirs(folder, exist_ok=True)  # the key's folder is new
            except FileExistsError:
                if attempt == 2:  # O_EXCL refused a name that repeated: take the next
                    raise
        try:
            if callable(data):
                with open(fd, "wb", closefd=False) as f:
                    data(f)
            else:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            if self.durable:
                os.fsync(fd)
            etag = _etag(os.fstat(fd))
        except BaseException:
            os.close(fd)
            _unlink_quietly(tmp)
            raise
        os.close(fd)
        return tmp, etag

    @contextmanager
    def _locked(self, full: str) -> Iterator[None]:
        fd = self._lock(full)
        try:
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def _lock(self, full: str) -> int:
        """An fd holding the exclusive flock of ``full``'s folder; close it to unlock.

        The folder's own descriptor is locked, so the store holds no lock
        files. Where a folder cannot be locked (NFS emulates flock with
        byte-range locks, which need a file open for writing) a lock file
        ``.#lock`` in the folder stands in.
        FileNotFoundError if the folder does not exist (then neither does ``full``).
        """
        folder = full.rpartition("/")[0]
        fd = os.open(folder, _FOLDER_FLAGS)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in _NO_FOLDER_LOCK:
                raise
            return self._lock_file(folder)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @staticmethod
    def _lock_file(folder: str) -> int:
        fd = os.open(f"{folder}/{LOCK_NAME}", _LOCK_FLAGS, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _sync_folder(self, full: str) -> None:
        if self.durable:
            fd = os.open(os.path.dirname(full), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _commit(self, tmp: str, full: str, expected_etag: str | None = None) -> None:
        try:
            lock = self._lock(full)
            try:
                if expected_etag is not None:
                    self._check_etag(full, expected_etag)
                os.replace(tmp, full)
            finally:
                os.close(lock)  # closing releases the flock
        except BaseException:
            _unlink_quietly(tmp)
            raise
        self._sync_folder(full)

    def _check_etag(self, full: str, expected: str) -> None:
        try:
            current = _etag(os.stat(full))
        except FileNotFoundError:
            raise PreconditionFailed(f"{full} is absent") from None
        if current != expected:
            raise PreconditionFailed(f"{full} has ETag {current}, not {expected}")

    def write(self, path: str, data: Payload) -> str:
        full = self.full_path(path)
        tmp, etag = self._write_temp(full, data)
        self._commit(tmp, full)
        return etag

    def write_if(self, path: str, data: Payload, etag: str) -> str:
        full = self.full_path(path)
        tmp, new_etag = self._write_temp(full, data)
        self._commit(tmp, full, expected_etag=etag)
        return new_etag

    def create(self, path: str, data: Payload) -> str | None:
        full = self.full_path(path)
        tmp, etag = self._write_temp(full, data)
        try:
            os.link(tmp, full)
        except FileExistsError:
            return None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            return self._create_without_links(tmp, full, etag)
        finally:
            _unlink_quietly(tmp)
        self._sync_folder(full)
        return etag

    def _create_without_links(self, tmp: str, full: str, etag: str) -> str | None:
        # Filesystems without hard links: check and rename under the lock.
        with self._locked(full):
            if os.path.lexists(full):
                return None
            os.replace(tmp, full)
        self._sync_folder(full)
        return etag

    def delete(self, path: str) -> None:
        full = self.full_path(path)
        lock = self._lock(full)
        try:
            os.unlink(full)
        finally:
            os.close(lock)  # closing releases the flock

    def delete_if(self, path: str, etag: str) -> None:
        full = self.full_path(path)
        try:
            lock = self._lock(full)
        except FileNotFoundError:  # no folder, so no file
            raise PreconditionFailed(f"{full} is absent") from None
        try:
            self._check_etag(full, etag)
            os.unlink(full)
        finally:
            os.close(lock)  # closing releases the flock

    def set_mtime(self, path: str, mtime: float) -> None:
        os.utime(self.full_path(path), (mtime, mtime))

    def make_folder(self, path: str) -> None:
        os.makedirs(self.full_path(path), exist_ok=True)

    def remove_folder(self, path: str) -> None:
        os.rmdir(self.full_path(path))

    # listing
    def iter_folders(self, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
        """Stored file names folder by folder, from bare scandir calls (no stat)."""
        stack = [prefix]
        while stack:
            rel = stack.pop()
            try:
                it = os.scandir(self.full_path(rel))
            except (FileNotFoundError, NotADirectoryError):
                continue
            names: list[str] = []
            with it:
                for e in it:
                    name = e.name
                    if is_temp_name(name):
                        continue
                    if e.is_dir(follow_symlinks=False):
                        stack.append(f"{rel}/{name}" if rel else name)
                    else:
                        names.append(name)
                        if len(names) >= _NAMES_CHUNK:  # bounded memory in huge folders
                            yield rel, names
                            names = []
            if names:
                yield rel, names

    def iter_paths(self, prefix: str = "") -> Iterator[str]:
        """Relative paths of stored files under ``prefix``, without stat calls."""
        for folder, names in self.iter_folders(prefix):
            yield from ([f"{folder}/{n}" for n in names] if folder else names)

    def walk(self, prefix: str = "") -> Iterator[Entry]:
        for path in self.iter_paths(prefix):
            try:
                yield _entry(path, os.stat(self.full_path(path)))
            except FileNotFoundError:
                continue  # deleted since it was listed

    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        files, dirs = [], []
        try:
            it = os.scandir(self.full_path(prefix))
        except (FileNotFoundError, NotADirectoryError):
            return files, dirs
        with it:
            for e in it:
                if is_temp_name(e.name):
                    continue
                if e.is_dir(follow_symlinks=False):
                    dirs.append(e.name)
                    continue
                try:
                    st = e.stat(follow_symlinks=True)
                except FileNotFoundError:
                    continue
                files.append(_entry(f"{prefix}/{e.name}" if prefix else e.name, st))
        return files, dirs

    def is_empty(self, prefix: str = "") -> bool:
        return next(self.iter_paths(prefix), None) is None

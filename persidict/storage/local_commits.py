"""Commits to a local store: temp files, the folder lock, replace, link, unlink.

- A write puts the bytes in a hidden temp file beside the target (a callable
  payload writes straight into it), then ``os.replace``-s it over the target:
  readers see old or new bytes only.
- ``create`` hard-links a finished temp file to the target; ``link`` fails if
  the target exists, so exactly one of racing creators wins. Where a
  filesystem has no hard links, it checks and renames under the folder lock.
- Replacing and deleting commit while holding :class:`FolderLock`, so a
  compare-and-swap never interleaves with another commit, whatever root each
  writer opened the store at.
- An ETag is ``inode-mtime_ns-size``: every commit makes a new inode.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import secrets
import stat
from collections.abc import Mapping
from contextlib import suppress

from persidict.storage.base import TEMP_PREFIX, Entry, Payload, PreconditionFailed
from persidict.storage.local_paths import LocalPaths, named, symlink_error

LOCK_NAME = ".#lock"  # only where a folder cannot be locked (NFS)
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_NO_FOLDER_LOCK = (errno.EBADF, errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL)
_NO_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK)
_FOLDER_THERE = "a folder is where this stored file would be"

# Temp names are unique without a getrandom call per write: a random token
# per process (renewed in a forked child) and a counter.
_temp_token = secrets.token_hex(6)
_temp_counter = itertools.count()


def _renew_temp_token() -> None:
    global _temp_token
    _temp_token = secrets.token_hex(6)


os.register_at_fork(after_in_child=_renew_temp_token)


def etag_of(st: os.stat_result) -> str:
    """The ETag of a stored file: its inode, mtime and size."""
    return f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"


def entry_of(path: str, st: os.stat_result) -> Entry:
    """What a listing says of the stored file at ``path`` with stat ``st``."""
    return Entry(path, st.st_size, st.st_mtime, etag_of(st))


class FolderLock:
    """The exclusive lock of the open folder ``dfd``, held in a ``with`` block.

    The folder's own descriptor is locked; it stays locked until the folder is
    closed (commits close it right after). Where a folder cannot be locked
    (NFS emulates flock with byte-range locks, which need a file open for
    writing), a lock file ``.#lock`` in it stands in, unlocked at the block's end.
    """

    __slots__ = ("_dfd", "_fd")

    def __init__(self, dfd: int) -> None:
        self._dfd = dfd
        self._fd = dfd

    def __enter__(self) -> None:
        try:
            fcntl.flock(self._dfd, fcntl.LOCK_EX)
            return
        except OSError as exc:
            if exc.errno not in _NO_FOLDER_LOCK:
                raise
        fd = os.open(LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644, dir_fd=self._dfd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def __exit__(self, *exc_info: object) -> None:
        if self._fd != self._dfd:
            os.close(self._fd)


class LocalCommits:
    """Writes and deletes under ``paths``; ``durable`` also fsyncs file and folder."""

    def __init__(self, paths: LocalPaths, durable: bool) -> None:
        self.paths = paths
        self.durable = durable

    def write(self, path: str, data: Payload, expected: str | None = None) -> str:
        """Write ``data`` to a temp file, then, holding the folder's lock, replace ``path``.

        With ``expected``, only if the stored ETag is that (else PreconditionFailed).
        """
        full = self.paths.full_path(path)
        dfd, name, made = self.paths.folder_of(path, create=True)
        tmp = None
        try:
            tmp, etag = self._write_temp(dfd, name, data, full)
            with FolderLock(dfd):
                if expected is not None:
                    self._check_etag(dfd, name, expected, full)
                os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
                tmp = None
            if self.durable:
                os.fsync(dfd)
            return etag
        except BaseException as exc:
            if tmp is not None:
                with suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=dfd)
            self.paths.remove_made(made)
            if isinstance(exc, IsADirectoryError):
                raise IsADirectoryError(errno.EISDIR, _FOLDER_THERE, full) from None
            raise
        finally:
            os.close(dfd)  # closing releases the flock

    def create(self, path: str, data: Payload) -> str | None:
        """Store ``data`` only if ``path`` is absent: the new ETag, or None if it was there."""
        dfd, _, made = self.paths.folder_of(path, create=True)
        try:
            etag = self.create_at(dfd, path, data)
        except BaseException:
            self.paths.remove_made(made)
            raise
        finally:
            os.close(dfd)
        return etag

    def create_at(self, dfd: int, path: str, data: Payload) -> str | None:
        """:meth:`create` in the open folder ``dfd`` of ``path``."""
        full = self.paths.full_path(path)
        name = path.rpartition("/")[2]
        tmp, etag = self._write_temp(dfd, name, data, full)
        try:
            os.link(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
        except FileExistsError:
            _refuse_non_file(dfd, name, full)
            return None
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise named(exc, full) from None
            return self._create_without_links(dfd, tmp, name, etag, full)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
        if self.durable:
            os.fsync(dfd)
        return etag

    def _create_without_links(
        self, dfd: int, tmp: str, name: str, etag: str, full: str
    ) -> str | None:
        # Filesystems without hard links: check and rename under the lock.
        with FolderLock(dfd):
            try:
                os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
                if self.durable:
                    os.fsync(dfd)
                return etag
            _refuse_non_file(dfd, name, full)
            return None

    def delete(self, path: str, etag: str | None = None) -> None:
        """Remove ``path`` (with ``etag``: only if the stored ETag is that)."""
        full = self.paths.full_path(path)
        try:
            dfd, name, _ = self.paths.folder_of(path, create=False)
        except (FileNotFoundError, NotADirectoryError):  # no folder, so no file
            if etag is not None:
                raise PreconditionFailed(f"{full} is absent") from None
            raise FileNotFoundError(errno.ENOENT, "no stored file", full) from None
        try:
            with FolderLock(dfd):
                if etag is not None:
                    self._check_etag(dfd, name, etag, full)
                os.unlink(name, dir_fd=dfd)
        except OSError as exc:
            raise named(exc, full) from None
        finally:
            os.close(dfd)  # closing releases the flock

    # batches: work on one open folder, for LocalPaths.by_folder
    def write_group(self, items: Mapping[str, Payload], dfd: int, group: list[str]) -> list:
        """Commit ``items[path]`` for each path of ``group``, all in folder ``dfd``."""
        # Small values: the folder stays locked for the group, each value
        # committed as soon as written (the same disk pattern as a loop).
        with FolderLock(dfd):
            out = [self._commit_at(dfd, path, items[path]) for path in group]
        if self.durable:
            os.fsync(dfd)
        return out

    def create_group(self, items: Mapping[str, Payload], dfd: int, group: list[str]) -> list:
        """:meth:`create_at` for each path of ``group``: ETag, None, or the exception."""
        out: list = []
        for path in group:
            try:
                out.append(self.create_at(dfd, path, items[path]))
            except Exception as exc:  # handed back per item, raised by the caller
                out.append(exc)
        return out

    def delete_group(self, missing_ok: bool, dfd: int, group: list[str]) -> list:
        """Unlink each path of ``group`` under the folder lock: None or the exception."""
        out: list = []
        with FolderLock(dfd):
            for path in group:
                try:
                    os.unlink(path.rpartition("/")[2], dir_fd=dfd)
                    out.append(None)
                except FileNotFoundError:
                    out.append(None if missing_ok else self.paths.absent(path))
                except OSError as exc:
                    out.append(named(exc, self.paths.full_path(path)))
        return out

    def _commit_at(self, dfd: int, path: str, data: Payload) -> str | BaseException:
        """Write and commit ``data`` in the open, locked folder ``dfd``; the ETag or the error."""
        full = self.paths.full_path(path)
        name = path.rpartition("/")[2]
        try:
            tmp, etag = self._write_temp(dfd, name, data, full)
        except Exception as exc:  # handed back per item, raised by the caller
            return exc
        try:
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except OSError as exc:
            with suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
            if isinstance(exc, IsADirectoryError):
                return IsADirectoryError(errno.EISDIR, _FOLDER_THERE, full)
            return named(exc, full)
        return etag

    # the parts of a commit
    def _write_temp(self, dfd: int, name: str, data: Payload, full: str) -> tuple[str, str]:
        """Write ``data`` into a new temp file in folder ``dfd``; its name and ETag."""
        tmp = f"{TEMP_PREFIX}{name[:100]}.{_temp_token}-{next(_temp_counter)}"
        try:
            fd = os.open(tmp, _TEMP_FLAGS, 0o644, dir_fd=dfd)
        except OSError as exc:
            raise named(exc, full, exc.strerror) from None
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
            etag = etag_of(os.fstat(fd))
        except BaseException as exc:
            os.close(fd)
            os.unlink(tmp, dir_fd=dfd)
            if isinstance(exc, OSError) and exc.filename is None:
                raise named(exc, full) from exc  # ENOSPC and the like name the path
            raise
        os.close(fd)
        return tmp, etag

    @staticmethod
    def _check_etag(dfd: int, name: str, expected: str, full: str) -> None:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            raise PreconditionFailed(f"{full} is absent") from None
        current = etag_of(st) if stat.S_ISREG(st.st_mode) else None
        if current != expected:
            raise PreconditionFailed(f"{full} has ETag {current}, not {expected}")


def _refuse_non_file(dfd: int, name: str, full: str) -> None:
    """Something is at ``name``: fine if a stored file; an OSError if not.

    Without this, a dangling symlink at a key's path would be "there" for
    create and "absent" for read, and ``setdefault`` would spin.
    """
    mode = os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode
    if stat.S_ISLNK(mode):
        raise symlink_error(full)
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, _FOLDER_THERE, full)
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, "not a regular file", full)

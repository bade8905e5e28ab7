"""LocalStore: a folder on a local or network (NFS) filesystem, via ``os``.

Mechanism (the same on one machine and on NFS):
- Commits (see :mod:`.local_commits`): a write replaces the target with a
  finished temp file; ``create`` hard-links one, so exactly one of racing
  creators wins; writes and deletes commit holding an exclusive ``flock`` on
  the descriptor of the key's own folder, so a compare-and-swap never
  interleaves with another commit. The store keeps no lock files; only where
  a folder cannot be locked (NFS) a ``.#lock`` file in the folder stands in.
- Reads take no lock: a small value in one read, a big one into one buffer
  sized by fstat (committed files are never changed in place).
- Symlinks below the root are never followed (see :mod:`.beneath` and
  :mod:`.local_paths`): reads, writes and deletes through one fail with an
  OSError naming the path; listings (:mod:`.local_listing`) skip them with a
  log line. A write at a key whose file is a symlink replaces the link
  itself; nothing outside the root is touched.
- An ETag is ``inode-mtime_ns-size``: every commit makes a new inode.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from typing import BinaryIO

from persidict.storage.base import ByteStore, Entry, Payload, PreconditionFailed
from persidict.storage.beneath import O_PATH, open_beneath
from persidict.storage.local_commits import LocalCommits, entry_of, etag_of
from persidict.storage.local_listing import FolderLister
from persidict.storage.local_paths import (
    DIR_FLAGS,
    LocalPaths,
    absent_or,
    named,
    symlink_error,
)

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK  # a planted FIFO must not block a read
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
_THREADS_FROM = 1 << 20  # mean value size from which a batch write uses threads
_A_FOLDER = "a folder, not a stored file"
_SMALL = 1 << 16  # values up to this size are read without an fstat
_FOLDER_ONLY = O_PATH | os.O_DIRECTORY  # to stat names in it
_NOT_THERE = (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP)  # exists: False
_FULL_READ_FS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "f2fs", "zfs"})


def _filesystem_type(path: str) -> str:
    """The type of the filesystem ``path`` is on (Linux: from mountinfo), or ''."""
    best, kind = "", ""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                point = fields[4].replace("\\040", " ")
                inside = path == point or path.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, fields[fields.index("-") + 1]
    except (OSError, ValueError, IndexError):
        return ""
    return kind


def _worth_threads(payloads: Iterable[Payload]) -> bool:
    """True for batches of big values, whose copies threads can run in parallel."""
    sizes = [len(p) if isinstance(p, (bytes, bytearray)) else 0 for p in payloads]
    return len(sizes) > 1 and sum(sizes) >= _THREADS_FROM * len(sizes)


def _read_exactly(fd: int, size: int, offset: int | None = None) -> bytes:
    """``size`` bytes from ``fd`` (at ``offset``, if given) into one buffer.

    Fewer if the file ends first.
    """
    if offset is not None:
        os.lseek(fd, offset, os.SEEK_SET)
    data = os.read(fd, size)
    if len(data) == size or not data:
        return data
    buffer = bytearray(size)  # a short read: rare (signals, some network filesystems)
    view = memoryview(buffer)
    view[: len(data)] = data
    got = len(data)
    while got < size:
        n = os.readv(fd, [view[got:]])
        if not n:
            break
        got += n
    return bytes(view[:got])


class LocalStore(ByteStore):
    """Bytes at relative paths under the folder ``root``.

    ``durable=True`` also fsyncs each written file and its folder, so a
    commit survives a power cut, at a large cost in speed.
    """

    is_local = True

    def __init__(self, root: str | os.PathLike[str], *, durable: bool = False) -> None:
        self.root = os.path.abspath(os.path.expanduser(os.fspath(root)))
        self.url = self.root
        self.paths = LocalPaths(self.root)
        """Opens paths beneath the root (never through a symlink); makes folders for writes."""
        self.commits = LocalCommits(self.paths, durable)
        """Every write and delete of this store (temp file, folder lock, replace/link/unlink)."""
        self._real = self.paths.real
        self._full_reads = _filesystem_type(self._real) in _FULL_READ_FS
        self._lister = FolderLister(self.paths.open_folder, self.paths.full_path)

    @property
    def durable(self) -> bool:
        """Whether each commit fsyncs the file and its folder."""
        return self.commits.durable

    def __reduce__(self):
        return (type(self), (self.root,), {"durable": self.durable})

    def __setstate__(self, state: dict) -> None:
        self.commits.durable = state["durable"]

    def full_path(self, path: str) -> str:
        """``path`` under the root (as errors name it)."""
        return self.paths.full_path(path)

    # reading: one open, one buffer sized by fstat
    def _open_file(self, path: str) -> tuple[int, os.stat_result]:
        """An open fd and its stat for the stored file at ``path``; FileNotFoundError if none."""
        try:
            fd = self.paths.open(path, _READ_FLAGS)
        except OSError as exc:
            raise absent_or(exc) from None
        return fd, self._regular(fd, path)

    def _open_file_at(self, dfd: int, path: str) -> tuple[int, os.stat_result]:
        """``_open_file`` for a path in the open folder ``dfd`` (batches)."""
        try:
            fd = os.open(path.rpartition("/")[2], _READ_FLAGS | _NOFOLLOW, dir_fd=dfd)
        except OSError as exc:
            full = self.full_path(path)
            if exc.errno == errno.ELOOP:
                raise symlink_error(full) from None
            raise absent_or(named(exc, full)) from None
        return fd, self._regular(fd, path)

    def _regular(self, fd: int, path: str, close: bool = True) -> os.stat_result:
        """The stat of ``fd``, which must be a regular file (else an error; ``close``: closed)."""
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            return st
        if close:
            os.close(fd)
        full = self.full_path(path)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, _A_FOLDER, full)
        raise OSError(errno.EINVAL, "not a regular file", full)

    def _open_read(self, path: str) -> int:
        """An fd to read ``path`` from, not yet known to be a regular file (fast path)."""
        try:
            return open_beneath(self._real, path, _READ_FLAGS)
        except OSError as exc:
            raise absent_or(self.paths.open_error(exc, path)) from None

    def _whole_if_small(self, fd: int, path: str) -> bytes | None:
        """The whole value if one read of up to ``_SMALL`` bytes got it all, else None."""
        try:
            data = os.read(fd, _SMALL)
        except IsADirectoryError:
            raise IsADirectoryError(errno.EISDIR, _A_FOLDER, self.full_path(path)) from None
        # A short read is the end of a regular file on local filesystems;
        # elsewhere (network, FUSE) one more read makes sure.
        if len(data) < _SMALL and (self._full_reads or not data or not os.read(fd, 1)):
            return data
        return None

    def read(self, path: str) -> bytes:
        """The stored bytes: a small value in one read, a big one in one buffer sized by fstat."""
        fd = self._open_read(path)
        try:
            data = self._whole_if_small(fd, path)
            if data is None:
                # Committed files are never changed in place (every write is a
                # new inode), so the size fstat gives is the size to read.
                data = _read_exactly(fd, self._regular(fd, path, close=False).st_size, 0)
            return data
        except OSError as exc:
            raise named(exc, self.full_path(path)) from None
        finally:
            os.close(fd)

    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        fd, st = self._open_file(path)
        try:
            return _read_exactly(fd, st.st_size), etag_of(st)
        finally:
            os.close(fd)

    def read_if_changed(self, path: str, etag: str) -> tuple[bytes | None, str]:
        fd, st = self._open_file(path)
        try:
            current = etag_of(st)
            return (None, etag) if current == etag else (_read_exactly(fd, st.st_size), current)
        finally:
            os.close(fd)

    def read_range(self, path: str, start: int, end: int | None, etag: str | None = None) -> bytes:
        fd, st = self._open_file(path)
        try:
            if etag is not None and etag_of(st) != etag:
                full = self.full_path(path)
                raise PreconditionFailed(f"{full} has ETag {etag_of(st)}, not {etag}")
            stop = st.st_size if end is None else min(end, st.st_size)
            return os.pread(fd, max(0, stop - start), start)
        finally:
            os.close(fd)

    def open_read(self, path: str) -> BinaryIO:
        fd, _ = self._open_file(path)  # one inode: a later commit is a new one
        return open(fd, "rb")  # the caller closes it

    def read_or_open(self, path: str, limit: int) -> bytes | BinaryIO:
        fd = self._open_read(path)
        try:
            data = self._whole_if_small(fd, path) if limit >= _SMALL else None
            if data is None:
                size = self._regular(fd, path, close=False).st_size
                if size > limit:
                    os.lseek(fd, 0, os.SEEK_SET)
                    f = open(fd, "rb")  # noqa: SIM115 (the caller closes it)
                    fd = -1
                    return f
                data = _read_exactly(fd, size, 0)
            return data
        finally:
            if fd >= 0:
                os.close(fd)

    def read_many(self, paths: Iterable[str]) -> list[bytes | BaseException]:
        def read_in(dfd: int, group: list[str]) -> list:
            out: list = []
            for path in group:
                try:
                    fd, st = self._open_file_at(dfd, path)
                    try:
                        out.append(_read_exactly(fd, st.st_size))
                    finally:
                        os.close(fd)
                except Exception as exc:  # handed back per item, raised by the caller
                    out.append(exc)
            return out

        return self.paths.by_folder(list(paths), read_in, create=False)

    # metadata
    def info(self, path: str) -> Entry:
        try:
            fd = self.paths.open(path, O_PATH)
        except OSError as exc:
            raise absent_or(exc) from None
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a stored file", self.full_path(path))
        return entry_of(path, st)

    def exists(self, path: str) -> bool:
        """True if a stored file is at ``path`` (never one behind a symlink)."""
        try:
            if "/" in path:
                # A symlink may be on the way: open the folder beneath the root.
                folder, _, name = path.rpartition("/")
                dfd = open_beneath(self._real, folder, _FOLDER_ONLY)
                try:
                    mode = os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode
                finally:
                    os.close(dfd)
            else:
                # One lstat: the root is trusted and the name itself is not followed.
                mode = os.lstat(f"{self._real}/{path}").st_mode
        except OSError as exc:
            if exc.errno in _NOT_THERE:
                return False
            raise absent_or(self.paths.open_error(exc, path)) from None
        return stat.S_ISREG(mode)

    def set_mtime(self, path: str, mtime: float) -> None:
        full = self.full_path(path)
        dfd, name, _ = self.paths.folder_of(path, create=False)
        try:
            if not stat.S_ISREG(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode):
                raise FileNotFoundError(errno.ENOENT, "not a stored file", full)
            os.utime(name, (mtime, mtime), dir_fd=dfd, follow_symlinks=False)
        except OSError as exc:
            raise named(exc, full) from None
        finally:
            os.close(dfd)

    # writing: see local_commits
    def write(self, path: str, data: Payload) -> str:
        return self.commits.write(path, data)

    def write_if(self, path: str, data: Payload, etag: str) -> str:
        return self.commits.write(path, data, etag)

    def create(self, path: str, data: Payload) -> str | None:
        return self.commits.create(path, data)

    def delete(self, path: str) -> None:
        self.commits.delete(path)

    def delete_if(self, path: str, etag: str) -> None:
        self.commits.delete(path, etag)

    # batches: one folder descriptor (and one lock) per folder, not one per file
    def write_many(self, items: Mapping[str, Payload]) -> list[str | BaseException]:
        if _worth_threads(items.values()):  # big copies run in parallel without the GIL
            return super().write_many(items)
        work = partial(self.commits.write_group, items)
        return self.paths.by_folder(list(items), work, create=True)

    def create_many(self, items: Mapping[str, Payload]) -> list[str | BaseException | None]:
        if _worth_threads(items.values()):
            return super().create_many(items)
        work = partial(self.commits.create_group, items)
        return self.paths.by_folder(list(items), work, create=True)

    def delete_many(
        self, paths: Iterable[str], *, missing_ok: bool = False
    ) -> list[BaseException | None]:
        work = partial(self.commits.delete_group, missing_ok)
        results = self.paths.by_folder(list(paths), work, create=False)
        if missing_ok:
            results = [None if isinstance(r, FileNotFoundError) else r for r in results]
        return results

    # folders
    def make_folder(self, path: str) -> None:
        try:
            self.paths.make_folders(path)
        except NotADirectoryError as exc:
            if exc.filename != self.full_path(path):
                raise
            raise FileExistsError(errno.EEXIST, "a stored file is there", exc.filename) from None

    def remove_folder(self, path: str) -> None:
        folder, _, name = path.rpartition("/")
        dfd = self.paths.open(folder, DIR_FLAGS)
        try:
            os.rmdir(name, dir_fd=dfd)
        except OSError as exc:
            raise named(exc, self.full_path(path)) from None
        finally:
            os.close(dfd)

    # listing: see local_listing
    def iter_folders(self, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
        """Stored file names folder by folder, from bare scandir calls (no stat)."""
        return self._lister.iter_folders(prefix)

    def iter_paths(self, prefix: str = "") -> Iterator[str]:
        """Relative paths of stored files under ``prefix``, without stat calls."""
        for folder, names in self._lister.iter_folders(prefix):
            yield from ([f"{folder}/{n}" for n in names] if folder else names)

    def walk(self, prefix: str = "") -> Iterator[Entry]:
        return (entry_of(path, st) for path, st in self._lister.walk(prefix))

    def walk_with_folders(self, prefix: str = "") -> Iterator[Entry | str]:
        stack = [prefix]
        while stack:
            rel = stack.pop()
            base = f"{rel}/" if rel else ""
            for files, folders in self._lister.entries(rel, with_stat=True):
                for name in folders:
                    stack.append(base + name)
                    yield base + name
                yield from (entry_of(base + name, st) for name, st in files)

    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        files, folders = self._lister.listdir(prefix)
        return [entry_of(path, st) for path, st in files], folders

    def is_empty(self, prefix: str = "") -> bool:
        return next(self.iter_paths(prefix), None) is None

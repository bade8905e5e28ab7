"""LocalStore: a folder on a local or network (NFS) filesystem, via ``os``.

Mechanism (the same on one machine and on NFS):
- ``write`` puts the bytes in a hidden temp file beside the target (a
  callable payload writes straight into it), then ``os.replace``-s it over
  the target: readers see old or new bytes only.
- ``create`` hard-links a finished temp file to the target; ``link`` fails
  if the target exists, so exactly one of racing creators wins.
- ``write``/``write_if``/``delete``/``delete_if`` commit while holding an
  exclusive ``flock`` on the descriptor of the key's own folder, so a
  compare-and-swap never interleaves with another commit, whatever root each
  writer opened the store at (``data`` or ``data/users``). The store keeps no
  lock files; only where a folder cannot be locked (NFS emulates flock with
  byte-range locks, which need a file open for writing) a ``.#lock`` file in
  the folder stands in. Reads take no lock.
- Symlinks below the root are never followed (see :mod:`.beneath`): reads,
  writes and deletes through one fail with an OSError naming the path;
  listings skip them with a log line. A write at a key whose file is a
  symlink replaces the link itself; nothing outside the root is touched.
- An ETag is ``inode-mtime_ns-size``: every commit makes a new inode.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import secrets
import stat
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from typing import BinaryIO

from persidict.storage.base import (
    TEMP_PREFIX,
    ByteStore,
    Entry,
    Payload,
    PreconditionFailed,
)
from persidict.storage.beneath import O_PATH, open_beneath
from persidict.storage.local_listing import FolderLister

LOCK_NAME = ".#lock"  # only where a folder cannot be locked (NFS)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK  # a planted FIFO must not block a read
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_NO_FOLDER_LOCK = (errno.EBADF, errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL)
_NO_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK)
_ABSENT = (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG)  # no such stored file can exist
_THREADS_FROM = 1 << 20  # mean value size from which a batch write uses threads
_FOLDER_THERE = "a folder is where this stored file would be"
_A_FOLDER = "a folder, not a stored file"
_SMALL = 1 << 16  # values up to this size are read without an fstat
_FULL_READ_FS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "f2fs", "zfs"})


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


def _named(exc: OSError, full: str, why: str | None = None) -> OSError:
    """``exc`` as the same OSError type naming ``full`` (and saying why, if given)."""
    if exc.filename == full and why is None:
        return exc
    return type(exc)(exc.errno, why or exc.strerror, full)


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


def _absent_or(exc: OSError) -> OSError:
    """FileNotFoundError where no stored file can be (a missing folder, a file on the way,
    a name too long), else ``exc``."""
    if exc.errno in _ABSENT:
        return FileNotFoundError(errno.ENOENT, "no stored file", exc.filename)
    return exc


def _worth_threads(payloads: Iterable[Payload]) -> bool:
    """True for batches of big values, whose copies threads can run in parallel."""
    sizes = [len(p) if isinstance(p, (bytes, bytearray)) else 0 for p in payloads]
    return len(sizes) > 1 and sum(sizes) >= _THREADS_FROM * len(sizes)


def _symlink_error(full: str) -> OSError:
    return OSError(
        errno.ELOOP, "a symlink on the path; symlinks inside a store are never followed", full
    )


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
        self.durable = durable
        if not os.path.isdir(self.root):  # opening an existing store writes nothing
            os.makedirs(self.root, exist_ok=True)
        self._real = os.path.realpath(self.root)  # symlinks are resolved in the root only
        self._full_reads = _filesystem_type(self._real) in _FULL_READ_FS
        self._lister = FolderLister(self._open_folder, self.full_path)

    def __reduce__(self):
        return (type(self), (self.root,), {"durable": self.durable})

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def full_path(self, path: str) -> str:
        # Plain concatenation: paths are relative and validated by the caller.
        return f"{self.root}/{path}" if path else self.root

    def _open(self, path: str, flags: int, mode: int = 0o644) -> int:
        """An fd of ``path`` under the root, never through a symlink; errors name the path."""
        try:
            return open_beneath(self._real, path, flags, mode)
        except OSError as exc:
            raise self._open_error(exc, path) from None

    def _open_error(self, exc: OSError, path: str) -> OSError:
        """What to raise when opening ``path`` failed: a symlink on it is named."""
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # rare: find out which part
            link = self._first_symlink(path)
            if link is not None:
                return _symlink_error(self.full_path(link))
        return _named(exc, self.full_path(path), exc.strerror)

    def _first_symlink(self, path: str) -> str | None:
        """The first part of ``path`` that is a symlink, if any (named in errors)."""
        done = ""
        for part in path.split("/"):
            done = f"{done}/{part}" if done else part
            try:
                mode = os.lstat(f"{self._real}/{done}").st_mode
            except OSError:
                return None
            if stat.S_ISLNK(mode):
                return done
            if not stat.S_ISDIR(mode):
                return None
        return None

    # reading: one path, one buffer sized by fstat
    def _open_file(self, path: str) -> tuple[int, os.stat_result]:
        """An open fd and its stat for the stored file at ``path``; FileNotFoundError if none."""
        try:
            fd = self._open(path, _READ_FLAGS)
        except OSError as exc:
            raise _absent_or(exc) from None
        return fd, self._regular(fd, path)

    def _open_file_at(self, dfd: int, path: str) -> tuple[int, os.stat_result]:
        """``_open_file`` for a path in the open folder ``dfd`` (batches)."""
        try:
            fd = os.open(path.rpartition("/")[2], _READ_FLAGS | _NOFOLLOW, dir_fd=dfd)
        except OSError as exc:
            full = self.full_path(path)
            if exc.errno == errno.ELOOP:
                raise _symlink_error(full) from None
            raise _absent_or(_named(exc, full)) from None
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

    def _read_stat(self, path: str) -> tuple[bytes, os.stat_result]:
        fd, st = self._open_file(path)
        try:
            # Committed files are never changed in place (every write is a new
            # inode), so the size fstat gives is the size to read.
            return _read_exactly(fd, st.st_size), st
        finally:
            os.close(fd)

    def _open_read(self, path: str) -> int:
        try:
            return open_beneath(self._real, path, _READ_FLAGS)
        except OSError as exc:
            raise _absent_or(self._open_error(exc, path)) from None

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
            raise _named(exc, self.full_path(path)) from None
        finally:
            os.close(fd)

    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        data, st = self._read_stat(path)
        return data, _etag(st)

    def read_if_changed(self, path: str, etag: str) -> tuple[bytes | None, str]:
        fd, st = self._open_file(path)
        try:
            current = _etag(st)
            return (None, etag) if current == etag else (_read_exactly(fd, st.st_size), current)
        finally:
            os.close(fd)

    def read_range(self, path: str, start: int, end: int | None, etag: str | None = None) -> bytes:
        fd, st = self._open_file(path)
        try:
            if etag is not None and _etag(st) != etag:
                raise PreconditionFailed(f"{self.full_path(path)} has ETag {_etag(st)}, not {etag}")
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

    def info(self, path: str) -> Entry:
        try:
            fd = self._open(path, O_PATH)
        except OSError as exc:
            raise _absent_or(exc) from None
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a stored file", self.full_path(path))
        return _entry(path, st)

    def exists(self, path: str) -> bool:
        """True if a stored file is at ``path`` (never one behind a symlink)."""
        try:
            self.info(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            return False
        return True

    # writing
    def _folder(self, path: str, create: bool) -> tuple[int, str, list[str]]:
        """An fd of ``path``'s folder, the file name, and the folders made for it.

        With ``create``, missing folders are made (and listed, so that a
        failed write can remove them again).
        """
        folder, _, name = path.rpartition("/")
        try:
            return self._open(folder, _DIR_FLAGS), name, []
        except FileNotFoundError:
            if not create:
                raise
        except NotADirectoryError as exc:
            raise self._clash(folder, exc) from None
        made = self._make_folders(folder)
        try:
            return self._open(folder, _DIR_FLAGS), name, made
        except BaseException:
            self._remove_folders(made)
            raise

    def _clash(self, folder: str, exc: OSError) -> OSError:
        why = "a stored file is where a folder of this path would be"
        return NotADirectoryError(errno.ENOTDIR, why, self.full_path(folder))

    def _make_folders(self, folder: str) -> list[str]:
        """Make ``folder`` and its missing parents without following symlinks."""
        made: list[str] = []
        fd = os.open(self._real, _DIR_FLAGS | os.O_CLOEXEC)
        done = ""
        try:
            for part in folder.split("/"):
                done = f"{done}/{part}" if done else part
                try:
                    os.mkdir(part, dir_fd=fd)
                    made.append(done)
                except FileExistsError:
                    pass
                try:
                    inner = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        raise _symlink_error(self.full_path(done)) from None
                    if exc.errno == errno.ENOTDIR:
                        raise self._clash(done, exc) from None
                    raise _named(exc, self.full_path(done), exc.strerror) from None
                os.close(fd)
                fd = inner
        except BaseException:
            self._remove_folders(made)
            raise
        finally:
            os.close(fd)
        return made

    def _remove_folders(self, made: list[str]) -> None:
        """Remove folders a failed write made, deepest first, unless others wrote there."""
        for folder in reversed(made):
            try:
                os.rmdir(f"{self._real}/{folder}")
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    raise
                return  # another writer is using it

    def _write_temp(self, dfd: int, name: str, data: Payload, full: str) -> tuple[str, str]:
        """Write ``data`` into a new temp file in folder ``dfd``; its name and ETag."""
        tmp = f"{TEMP_PREFIX}{name[:100]}.{_temp_token}-{next(_temp_counter)}"
        try:
            fd = os.open(tmp, _TEMP_FLAGS, 0o644, dir_fd=dfd)
        except OSError as exc:
            raise _named(exc, full, exc.strerror) from None
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
        except BaseException as exc:
            os.close(fd)
            os.unlink(tmp, dir_fd=dfd)
            if isinstance(exc, OSError) and exc.filename is None:
                raise _named(exc, full) from exc  # ENOSPC and the like name the path
            raise
        os.close(fd)
        return tmp, etag

    def _lock(self, dfd: int) -> int:
        """Hold the exclusive lock of folder ``dfd``; returns the fd to close to unlock.

        The folder's own descriptor is locked (returned as is); where a folder
        cannot be locked (NFS), a lock file ``.#lock`` in it stands in.
        """
        try:
            fcntl.flock(dfd, fcntl.LOCK_EX)
            return dfd
        except OSError as exc:
            if exc.errno not in _NO_FOLDER_LOCK:
                raise
        fd = os.open(LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644, dir_fd=dfd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _commit(self, path: str, data: Payload, expected: str | None = None) -> str:
        """Write ``data`` to a temp file, then, holding the folder's lock, replace ``path``."""
        full = self.full_path(path)
        dfd, name, made = self._folder(path, create=True)
        tmp = None
        try:
            tmp, etag = self._write_temp(dfd, name, data, full)
            lock = self._lock(dfd)
            try:
                if expected is not None:
                    self._check_etag(dfd, name, expected, full)
                os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
                tmp = None
            finally:
                if lock != dfd:
                    os.close(lock)
            if self.durable:
                os.fsync(dfd)
            return etag
        except BaseException as exc:
            if tmp is not None:
                with suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=dfd)
            self._remove_folders(made)
            if isinstance(exc, IsADirectoryError):
                raise IsADirectoryError(errno.EISDIR, _FOLDER_THERE, full) from None
            raise
        finally:
            os.close(dfd)  # closing releases the flock

    def _check_etag(self, dfd: int, name: str, expected: str, full: str) -> None:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            raise PreconditionFailed(f"{full} is absent") from None
        current = _etag(st) if stat.S_ISREG(st.st_mode) else None
        if current != expected:
            raise PreconditionFailed(f"{full} has ETag {current}, not {expected}")

    def write(self, path: str, data: Payload) -> str:
        return self._commit(path, data)

    def write_if(self, path: str, data: Payload, etag: str) -> str:
        return self._commit(path, data, etag)

    def create(self, path: str, data: Payload) -> str | None:
        dfd, _, made = self._folder(path, create=True)
        try:
            etag = self._create_at(dfd, path, data)
        except BaseException:
            self._remove_folders(made)
            raise
        finally:
            os.close(dfd)
        return etag

    def _create_at(self, dfd: int, path: str, data: Payload) -> str | None:
        """``create`` in the open folder ``dfd``."""
        full = self.full_path(path)
        name = path.rpartition("/")[2]
        tmp, etag = self._write_temp(dfd, name, data, full)
        try:
            os.link(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
        except FileExistsError:
            self._refuse_non_file(dfd, name, full)
            return None
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise _named(exc, full) from None
            return self._create_without_links(dfd, tmp, name, etag, full)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
        if self.durable:
            os.fsync(dfd)
        return etag

    def _refuse_non_file(self, dfd: int, name: str, full: str) -> None:
        """Something is at ``name``: fine if a stored file; an OSError if not.

        Without this, a dangling symlink at a key's path would be "there" for
        create and "absent" for read, and ``setdefault`` would spin.
        """
        mode = os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            raise _symlink_error(full)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, _FOLDER_THERE, full)
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file", full)

    def _create_without_links(
        self, dfd: int, tmp: str, name: str, etag: str, full: str
    ) -> str | None:
        # Filesystems without hard links: check and rename under the lock.
        lock = self._lock(dfd)
        try:
            try:
                os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
                if self.durable:
                    os.fsync(dfd)
                return etag
            self._refuse_non_file(dfd, name, full)
            return None
        finally:
            if lock != dfd:
                os.close(lock)

    def _delete(self, path: str, etag: str | None) -> None:
        full = self.full_path(path)
        try:
            dfd, name, _ = self._folder(path, create=False)
        except (FileNotFoundError, NotADirectoryError):  # no folder, so no file
            if etag is not None:
                raise PreconditionFailed(f"{full} is absent") from None
            raise FileNotFoundError(errno.ENOENT, "no stored file", full) from None
        try:
            lock = self._lock(dfd)
            try:
                if etag is not None:
                    self._check_etag(dfd, name, etag, full)
                os.unlink(name, dir_fd=dfd)
            finally:
                if lock != dfd:
                    os.close(lock)
        except OSError as exc:
            raise _named(exc, full) from None
        finally:
            os.close(dfd)  # closing releases the flock

    def delete(self, path: str) -> None:
        self._delete(path, None)

    def delete_if(self, path: str, etag: str) -> None:
        self._delete(path, etag)

    # batches: one folder descriptor (and one lock) per folder, not one per file
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

        return self._by_folder(list(paths), read_in, create=False)

    def write_many(self, items: Mapping[str, Payload]) -> list[str | BaseException]:
        if _worth_threads(items.values()):  # big copies run in parallel without the GIL
            return super().write_many(items)
        pairs = list(items.items())
        data = dict(pairs)

        def write_in(dfd: int, group: list[str]) -> list:
            # Small values: the folder stays locked for the group, each value
            # committed as soon as written (the same disk pattern as a loop).
            out: list = []
            lock = self._lock(dfd)
            try:
                for path in group:
                    out.append(self._commit_at(dfd, path, data[path]))
            finally:
                if lock != dfd:
                    os.close(lock)
            if self.durable:
                os.fsync(dfd)
            return out

        return self._by_folder([p for p, _ in pairs], write_in, create=True)

    def _commit_at(self, dfd: int, path: str, data: Payload) -> str | BaseException:
        """Write and commit ``data`` in the open, locked folder ``dfd``; the ETag or the error."""
        full = self.full_path(path)
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
            return _named(exc, full)
        return etag

    def create_many(self, items: Mapping[str, Payload]) -> list[str | BaseException | None]:
        if _worth_threads(items.values()):
            return super().create_many(items)

        def create_in(dfd: int, group: list[str]) -> list:
            out: list = []
            for path in group:
                try:
                    out.append(self._create_at(dfd, path, items[path]))
                except Exception as exc:
                    out.append(exc)
            return out

        return self._by_folder(list(items), create_in, create=True)

    def delete_many(
        self, paths: Iterable[str], *, missing_ok: bool = False
    ) -> list[BaseException | None]:
        def delete_in(dfd: int, group: list[str]) -> list:
            out: list = []
            lock = self._lock(dfd)
            try:
                for path in group:
                    try:
                        os.unlink(path.rpartition("/")[2], dir_fd=dfd)
                        out.append(None)
                    except FileNotFoundError:
                        out.append(None if missing_ok else self._absent(path))
                    except OSError as exc:
                        out.append(_named(exc, self.full_path(path)))
            finally:
                if lock != dfd:
                    os.close(lock)
            return out

        results = self._by_folder(list(paths), delete_in, create=False)
        if missing_ok:
            results = [None if isinstance(r, FileNotFoundError) else r for r in results]
        return results

    def _absent(self, path: str) -> FileNotFoundError:
        return FileNotFoundError(errno.ENOENT, "no stored file", self.full_path(path))

    def _by_folder(self, paths: list[str], work, *, create: bool) -> list:
        """``work(folder_fd, paths_in_it)`` for each folder of ``paths``; results in order.

        A folder that cannot be opened fails each of its paths (FileNotFoundError
        where it is absent); folders made for writes that all failed are removed.
        """
        groups: dict[str, list[int]] = {}
        for i, path in enumerate(paths):
            groups.setdefault(path.rpartition("/")[0], []).append(i)
        results: list = [None] * len(paths)
        for indexes in groups.values():
            group = [paths[i] for i in indexes]
            try:
                dfd, _, made = self._folder(group[0], create=create)
            except Exception as exc:
                missing = isinstance(exc, (FileNotFoundError, NotADirectoryError)) and not create
                out = [self._absent(p) if missing else exc for p in group]
            else:
                try:
                    out = work(dfd, group)
                finally:
                    os.close(dfd)
                if made and all(isinstance(r, BaseException) for r in out):
                    self._remove_folders(made)
            for i, result in zip(indexes, out, strict=True):
                results[i] = result
        return results

    def set_mtime(self, path: str, mtime: float) -> None:
        full = self.full_path(path)
        dfd, name, _ = self._folder(path, create=False)
        try:
            if not stat.S_ISREG(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode):
                raise FileNotFoundError(errno.ENOENT, "not a stored file", full)
            os.utime(name, (mtime, mtime), dir_fd=dfd, follow_symlinks=False)
        except OSError as exc:
            raise _named(exc, full) from None
        finally:
            os.close(dfd)

    def make_folder(self, path: str) -> None:
        try:
            self._make_folders(path)
        except NotADirectoryError as exc:
            if exc.filename != self.full_path(path):
                raise
            raise FileExistsError(errno.EEXIST, "a stored file is there", exc.filename) from None

    def remove_folder(self, path: str) -> None:
        folder, _, name = path.rpartition("/")
        dfd = self._open(folder, _DIR_FLAGS)
        try:
            os.rmdir(name, dir_fd=dfd)
        except OSError as exc:
            raise _named(exc, self.full_path(path)) from None
        finally:
            os.close(dfd)

    # listing: see local_listing
    def _open_folder(self, rel: str) -> int:
        return self._open(rel, _DIR_FLAGS)

    def iter_folders(self, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
        """Stored file names folder by folder, from bare scandir calls (no stat)."""
        return self._lister.iter_folders(prefix)

    def iter_paths(self, prefix: str = "") -> Iterator[str]:
        """Relative paths of stored files under ``prefix``, without stat calls."""
        for folder, names in self._lister.iter_folders(prefix):
            yield from ([f"{folder}/{n}" for n in names] if folder else names)

    def walk(self, prefix: str = "") -> Iterator[Entry]:
        return (_entry(path, st) for path, st in self._lister.walk(prefix))

    def walk_with_folders(self, prefix: str = "") -> Iterator[Entry | str]:
        stack = [prefix]
        while stack:
            rel = stack.pop()
            base = f"{rel}/" if rel else ""
            for files, folders in self._lister.entries(rel, with_stat=True):
                for name in folders:
                    stack.append(base + name)
                    yield base + name
                yield from (_entry(base + name, st) for name, st in files)

    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        files, folders = self._lister.listdir(prefix)
        return [_entry(path, st) for path, st in files], folders

    def is_empty(self, prefix: str = "") -> bool:
        return next(self.iter_paths(prefix), None) is None

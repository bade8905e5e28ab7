"""A FUSE server over any fsspec filesystem whose directories are implicit prefixes.

The filesystem is used through a small contract: ``ls(path, detail=True)``,
``info``, ``cat_file`` (with ranges), ``pipe_file`` (atomic, validating),
``rm_file``, and the batch forms ``cat(list)``, ``pipe(dict)``, ``rm(list)``.
Writes are buffered per open file and committed with one ``pipe_file`` on
flush/close, so other readers see the old bytes until then. Names that are
not storable but look like editor or ``sed -i`` temp files live only in this
server's memory until renamed onto a storable name; other bad names are
refused (EINVAL) with the reason in the log. Attributes and listings are
cached for ``cache_ttl`` seconds (``persidict_fs.fuse_cache``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mfusepy
from fsspec.spec import AbstractFileSystem

from persidict_fs.fuse_cache import Stat, TreeCache, store_io

log = logging.getLogger(__name__)

NameCheck = Callable[[str, bool], "str | None"]
"""``check(path, is_dir)``: why ``path`` cannot be stored, or None if it can."""

# vim swap/backup and its "4913" probe, emacs/gedit backups, GNU sed -i temp files
TEMP_NAME = re.compile(r"\.sw[a-p]x?$|~$|^4913$|^sed[A-Za-z0-9]{6}$|^\.#|^#.*#$")
WHOLE_READ_LIMIT = 32 << 20  # smaller files are read in one request, as one version
READ_BLOCK = 8 << 20  # larger ones in blocks of this size
READ_AHEAD = 1 << 20  # the kernel's read size for page-cached reads (it caps it at 1 MiB)


def _fail(code: int) -> mfusepy.FuseOSError:
    return mfusepy.FuseOSError(code)


@dataclass
class Handle:
    """One open file: a private buffer, loaded on first use, committed when dirty."""

    path: str
    writable: bool
    append: bool = False
    data: bytes | bytearray | None = None
    dirty: bool = False
    written: bool = False  # since the last commit: a flush with nothing new is a dup'd fd closing
    block_start: int = -1
    block: bytes = b""
    ranged: bool = False  # a large value: read in blocks, not loaded whole
    fd: int = -1  # ... from a local store: its file, open for all this handle's reads
    opener: int = 0  # the pid that opened it: flushes from others are forked copies closing
    unlinked: bool = False  # its name was removed while open: its bytes are never stored
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class MemFile:
    data: bytearray
    mtime: float = field(default_factory=time.time)


class StoreOperations(mfusepy.Operations):
    """FUSE operations serving ``fs`` under ``root``; see the module docstring."""

    use_ns = True

    def __init__(
        self,
        fs: AbstractFileSystem,
        root: str = "",
        *,
        check_name: NameCheck | None = None,
        read_only: bool = False,
        cache_ttl: float = 1.0,
    ) -> None:
        self.fs = fs
        self.tree = TreeCache(fs, root, cache_ttl)
        self.check_name = check_name or (lambda path, is_dir: None)
        self.read_only = read_only
        self.started = False  # set once the kernel has the mount
        self._lock = threading.RLock()
        self._mem: dict[str, MemFile] = {}
        self._dirs: set[str] = set()  # made by mkdir, or emptied through the mount
        self._handles: dict[int, Handle] = {}
        self._writers: dict[str, Handle] = {}
        self._next_fh = 1
        self._uid, self._gid = os.getuid(), os.getgid()
        self._born = time.time()

    # what the mount shows: its own pending state over the store's cached tree
    def _full(self, rel: str) -> str:
        return self.tree.full(rel)

    @staticmethod
    def _split(rel: str) -> tuple[str, str]:
        parent, _, name = rel.rpartition("/")
        return parent, name

    def _stat(self, rel: str) -> Stat | None:
        with self._lock:
            writer = self._writers.get(rel)
            if writer is not None and writer.data is not None:
                return Stat(False, len(writer.data), time.time())
            mem = self._mem.get(rel)
            if mem is not None:
                return Stat(False, len(mem.data), mem.mtime)
            if rel in self._dirs:
                return Stat(True)
        return self.tree.stat(rel)

    def _require_dir(self, rel: str) -> None:
        st = self._stat(rel)
        if st is None:
            raise _fail(errno.ENOENT)
        if not st.is_dir:
            raise _fail(errno.ENOTDIR)

    def _keep_dir(self, rel: str) -> None:
        """Keep folder ``rel`` (and its parents) visible though it may hold no key."""
        with self._lock:
            while rel:
                self._dirs.add(rel)
                rel = self._split(rel)[0]

    def _kind(self, rel: str) -> str:
        """'key' if ``rel`` can be stored, 'mem' for temp names, else EINVAL (logged)."""
        name = self._split(rel)[1]
        if TEMP_NAME.search(name):
            return "mem"
        problem = self.check_name(self._full(rel), False)
        if problem is None:
            return "key"
        log.warning("refused %r: %s", "/" + rel, problem)
        raise _fail(errno.EINVAL)

    def _writable(self) -> None:
        if self.read_only:
            raise _fail(errno.EROFS)

    def _commit(self, rel: str, data: bytes) -> None:
        try:
            self.fs.pipe_file(self._full(rel), data)
        except Exception as exc:
            # the stored value is unchanged; the writer's close() reports EIO
            log.error("could not store %r: %s", "/" + rel, exc)
            raise _fail(errno.EIO) from exc
        self.tree.remember(rel, Stat(False, len(data), time.time()))

    def _load(self, h: Handle) -> None:
        if h.data is None:
            try:
                with store_io("read", h.path):
                    h.data = bytearray(self.fs.cat_file(self._full(h.path)))
            except FileNotFoundError:
                h.data = bytearray()

    def init_with_config(self, conn: Any, config: Any) -> None:
        self.started = True
        if conn is not None:
            conn.max_readahead = READ_AHEAD  # fewer, larger reads of big values

    # attributes and listings
    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        st = self._stat(path.strip("/"))
        if st is None:
            raise _fail(errno.ENOENT)
        mtime_ns = int((st.mtime or self._born) * 1e9)  # folders have no time: the mount's
        attrs = {
            "st_uid": self._uid,
            "st_gid": self._gid,
            "st_mtime": mtime_ns,
            "st_ctime": mtime_ns,
            "st_atime": mtime_ns,
        }
        wbit = 0 if self.read_only else 0o200
        if st.is_dir:
            attrs.update(st_mode=stat.S_IFDIR | 0o555 | wbit, st_nlink=2)
        else:
            attrs.update(
                st_mode=stat.S_IFREG | 0o444 | wbit,
                st_nlink=1,
                st_size=st.size,
                st_blocks=(st.size + 511) // 512,
                st_blksize=128 << 10,
            )
        return attrs

    def readdir(self, path: str, fh: int) -> list[str]:
        rel = path.strip("/")
        self._require_dir(rel)
        names = set(self.tree.list(rel))
        prefix = f"{rel}/" if rel else ""
        with self._lock:
            extra = [*self._mem, *self._dirs, *self._writers]
        for p in extra:
            if p.startswith(prefix) and "/" not in p[len(prefix) :]:
                names.add(p[len(prefix) :])
        return [".", "..", *sorted(names)]

    def statfs(self, path: str) -> dict[str, int]:
        big = 1 << 40
        return dict(f_bsize=4096, f_frsize=4096, f_blocks=big, f_bfree=big, f_bavail=big,
                    f_files=big, f_ffree=big, f_namemax=255)  # fmt: skip

    # open files
    def _open(self, h: Handle, fi: Any) -> int:
        h.opener = mfusepy.fuse_get_context()[2]
        with self._lock:
            fh = self._next_fh
            self._next_fh += 1
            self._handles[fh] = h
            if h.writable:
                self._writers[h.path] = h
        fi.fh = fh
        if h.writable:
            fi.direct_io = 1  # writes bypass the page cache: a failed commit leaves no trace
        elif hasattr(fi, "noflush"):
            fi.noflush = 1  # a reader's close has nothing to commit: spare the round trip
        return 0

    def open(self, path: str, fi: Any) -> int:
        rel = path.strip("/")
        flags = fi.flags
        writable = flags & os.O_ACCMODE != os.O_RDONLY
        if writable:
            self._writable()
        h = Handle(rel, writable, append=bool(flags & os.O_APPEND))
        if writable and flags & os.O_TRUNC and rel not in self._mem:
            h.data, h.dirty = bytearray(), True
        elif writable and flags & os.O_TRUNC:
            self._mem[rel].data.clear()
        return self._open(h, fi)

    def create(self, path: str, mode: int, fi: Any) -> int:
        self._writable()
        rel = path.strip("/")
        if self._kind(rel) == "mem":
            with self._lock:
                self._mem[rel] = MemFile(bytearray())
            return self._open(Handle(rel, True), fi)
        h = Handle(rel, True, append=bool(fi.flags & os.O_APPEND), data=bytearray(), dirty=True)
        return self._open(h, fi)

    def read(self, path: str, size: int, offset: int, fi: Any) -> bytes:
        h = self._handles[fi.fh]
        with h.lock:
            mem = self._mem.get(h.path)
            if mem is not None:
                return bytes(mem.data[offset : offset + size])
            if h.data is None:
                if not h.ranged:  # the first read decides, so a new size cannot switch it
                    st = self._stat(h.path)
                    h.ranged = st is not None and st.size > WHOLE_READ_LIMIT
                if h.ranged:
                    return self._read_block(h, size, offset)
                self._load(h)
            return bytes(h.data[offset : offset + size])

    def _read_block(self, h: Handle, size: int, offset: int) -> bytes:
        end = offset + size
        if not (h.block_start <= offset and end <= h.block_start + len(h.block)):
            full, want = self._full(h.path), max(size, READ_BLOCK)
            with store_io("read", h.path):
                if h.fd < 0 and h.block_start < 0:
                    # A local file stays open for all the handle's reads: a value replaced
                    # meanwhile is a new inode, so this reader still sees one version (and
                    # skips an open per block). Elsewhere blocks are separate requests.
                    local_path = getattr(self.fs, "local_path", None)
                    disk = local_path(full) if local_path is not None else None
                    if disk is not None:
                        h.fd = os.open(disk, os.O_RDONLY)
                if h.fd >= 0:
                    h.block = os.pread(h.fd, want, offset)
                else:
                    h.block = self.fs.cat_file(full, start=offset, end=offset + want)
            h.block_start = offset
        return h.block[offset - h.block_start : end - h.block_start]

    def write(self, path: str, data: bytes, offset: int, fi: Any) -> int:
        h = self._handles[fi.fh]
        with h.lock:
            mem = self._mem.get(h.path)
            buf = mem.data if mem is not None else None
            if buf is None:
                self._load(h)
                buf = h.data
                h.dirty = h.written = True
            if h.append:
                offset = len(buf)
            if offset > len(buf):
                buf.extend(bytes(offset - len(buf)))
            buf[offset : offset + len(data)] = data
            if mem is not None:
                mem.mtime = time.time()
        return len(data)

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        self._writable()
        rel = path.strip("/")
        with self._lock:
            mem = self._mem.get(rel)
            writer = self._writers.get(rel)
        if mem is not None:
            del mem.data[length:]
            mem.data.extend(bytes(length - len(mem.data)))
            return 0
        if writer is not None:
            with writer.lock:
                self._load(writer)
                del writer.data[length:]
                writer.data.extend(bytes(length - len(writer.data)))
                writer.dirty = writer.written = True
            return 0
        h = Handle(rel, True)  # not open for writing: read, cut or pad, commit now
        self._load(h)
        del h.data[length:]
        h.data.extend(bytes(length - len(h.data)))
        self._commit(rel, bytes(h.data))
        return 0

    def flush(self, path: str, fi: Any) -> int:
        h = self._handles.get(fi.fh)
        # Every close() of a copy of the descriptor flushes: a forked child's exec,
        # the shell's open-dup2-close before `echo` writes. Committing then would
        # show a half-written or empty value, so only the opener's close after a
        # write commits; release (the last close) commits whatever is left.
        if h is not None and h.writable and mfusepy.fuse_get_context()[2] == h.opener:
            with h.lock:
                if h.dirty and h.written and not h.unlinked:
                    h.dirty = h.written = False  # a failure is reported once, not on release
                    self._commit(h.path, bytes(h.data))
        return 0

    def release(self, path: str, fi: Any) -> int:
        with self._lock:
            h = self._handles.pop(fi.fh, None)
            if h is not None and self._writers.get(h.path) is h:
                del self._writers[h.path]
        if h is not None and h.fd >= 0:
            with h.lock:
                os.close(h.fd)
                h.fd = -1
        if h is not None and h.dirty and not h.unlinked:
            # logged by _commit; release has no caller to tell
            with contextlib.suppress(mfusepy.FuseOSError):
                self._commit(h.path, bytes(h.data))
        return 0

    # names
    def unlink(self, path: str) -> int:
        self._writable()
        rel = path.strip("/")
        with self._lock:
            if self._mem.pop(rel, None) is not None:
                return 0
            # POSIX: an unlinked file's data goes with its last close, so whoever
            # still has it open must not store it again then
            for h in self._handles.values():
                if h.path == rel:
                    h.unlinked = True
            writer = self._writers.pop(rel, None)
        try:
            with store_io("delete", rel):
                self.fs.rm_file(self._full(rel))
        except FileNotFoundError:
            if writer is None:  # else it was created but not yet committed
                raise _fail(errno.ENOENT) from None
        self.tree.remember(rel, None)
        self._keep_dir(self._split(rel)[0])
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        self._writable()
        rel = path.strip("/")
        if self._stat(rel) is not None:
            raise _fail(errno.EEXIST)
        problem = self.check_name(self._full(rel), True)
        if problem:
            log.warning("refused folder %r: %s", path, problem)
            raise _fail(errno.EINVAL)
        self._keep_dir(rel)
        return 0

    def _children(self, rel: str) -> bool:
        prefix = rel + "/"
        with self._lock:
            local = any(p.startswith(prefix) for p in [*self._mem, *self._dirs, *self._writers])
        return local or bool(self.tree.list(rel, fresh=True))

    def rmdir(self, path: str) -> int:
        self._writable()
        rel = path.strip("/")
        self._require_dir(rel)
        if self._children(rel):
            raise _fail(errno.ENOTEMPTY)
        with self._lock:
            self._dirs.discard(rel)
        self._rmdir_stored(self._full(rel))
        self.tree.remember(rel, None)
        return 0

    def _rmdir_stored(self, full: str) -> None:
        try:
            self.fs.rmdir(full)
        except (FileNotFoundError, OSError) as exc:
            log.debug("folder %r left in place: %s", full, exc)

    def rename(self, old: str, new: str) -> int:
        self._writable()
        src, dst = old.strip("/"), new.strip("/")
        st = self._stat(src)
        if st is None:
            raise _fail(errno.ENOENT)
        target = self._stat(dst)
        if st.is_dir:
            if target is not None and (not target.is_dir or self._children(dst)):
                raise _fail(errno.ENOTEMPTY if target.is_dir else errno.ENOTDIR)
            self._move_dir(src, dst)
        else:
            if target is not None and target.is_dir:
                raise _fail(errno.EISDIR)
            self._move_file(src, dst)
        with self._lock:  # files still open follow their name
            for h in self._handles.values():
                if h.path == src:
                    h.path = dst
            if src in self._writers:
                self._writers[dst] = self._writers.pop(src)
        return 0

    def _move_file(self, src: str, dst: str) -> None:
        kind = self._kind(dst)
        with self._lock:
            mem = self._mem.get(src)
            writer = self._writers.get(src)
        if writer is not None and writer.dirty and kind == "key":
            # renamed while open with uncommitted bytes: they go to the new name
            # at the writer's close, as a whole; the old name is gone now
            writer.written = True
            with contextlib.suppress(FileNotFoundError), store_io("delete", src):
                self.fs.rm_file(self._full(src))
            self.tree.remember(src, None)
            return
        if mem is not None:
            data = bytes(mem.data)
        else:
            with store_io("read", src):
                data = self.fs.cat_file(self._full(src))
        if kind == "mem":
            with self._lock:
                self._mem[dst] = MemFile(bytearray(data))
        else:
            self._commit(dst, data)
            with self._lock:
                self._mem.pop(dst, None)
        if mem is not None:
            with self._lock:
                self._mem.pop(src, None)
        else:
            with store_io("delete", src):
                self.fs.rm_file(self._full(src))
            self.tree.remember(src, None)
            self._keep_dir(self._split(src)[0])

    def _move_dir(self, src: str, dst: str) -> None:
        """Move every key under ``src``: one listing, then batched read, write, delete."""
        base = self._full(src)
        with store_io("list", src):
            found = self.fs.find(base)
        for p in found:  # every new name must be storable before anything moves
            self._kind(dst + p[len(base) :])
        if found:
            with store_io(f"move to {'/' + dst!r}", src):
                data = self.fs.cat(found)
                self.fs.pipe({self._full(dst) + p[len(base) :]: v for p, v in data.items()})
                self.fs.rm(list(found))
            folders = {p.rpartition("/")[0] for p in found}
            for folder in sorted(folders, key=len, reverse=True):
                self._rmdir_stored(folder)
        self._rmdir_stored(base)
        with self._lock:
            for table in (self._mem, self._writers):
                for p in [p for p in table if p.startswith(src + "/")]:
                    table[dst + p[len(src) :]] = table.pop(p)
            for h in self._handles.values():  # open files follow, to commit under the new name
                if h.path.startswith(src + "/"):
                    h.path = dst + h.path[len(src) :]
            moved = {p for p in self._dirs if p == src or p.startswith(src + "/")}
            self._dirs -= moved
            self._dirs |= {dst + p[len(src) :] for p in moved}
        self._keep_dir(dst)
        self._keep_dir(self._split(src)[0])
        self.tree.forget_all()

    # metadata the stores do not keep: accepted and ignored, as on FAT or S3 mounts
    def utimens(self, path: str, times: Any = None) -> int:
        if self._stat(path.strip("/")) is None:
            raise _fail(errno.ENOENT)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        return self.utimens(path)

    def chown(self, path: str, uid: int, gid: int) -> int:
        return self.utimens(path)

"""A FUSE server over the fsspec view of a store (``persidict_fs.filesystem``).

The view is used through a small contract: ``ls(path, detail=True)``,
``info``, ``cat_file``, ``open_stored`` (a file of one stored version),
``pipe_file`` (atomic; bytes or a callable writing them), ``append_file``
(atomic, after whatever is stored), ``rm_file``,
``set_mtime``, ``mkdir``/``rmdir`` (folders that persist), and the batch
forms ``cat(list)``, ``pipe(dict)``, ``rm(list)``.

A file open for writing keeps its bytes in a spool (memory, then an
anonymous temp file outside the store beyond a threshold) and is committed
with one ``pipe_file`` when its writer closes (a file opened O_APPEND that
is only appended to: just its new bytes, with one ``append_file``, so two
appenders both land): until then every reader sees
the old value, and a crash of the writer or of this server leaves it whole.
Names the view cannot store but that look like editor or ``sed -i`` temp
files live in this server's memory until renamed onto a storable name; other
bad names are refused (EINVAL) with the reason in the log. Attributes and
listings are cached for ``cache_ttl`` seconds (``persidict_fs.fuse_cache``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import io
import logging
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mfusepy
from fsspec.spec import AbstractFileSystem

from persidict_fs.fuse_cache import Stat, TreeCache, store_io
from persidict_fs.fuse_files import (
    COPY_BLOCK,
    SPILL_THRESHOLD,
    Journal,
    MemFile,
    Reader,
    Spool,
    Writer,
    copy_stream,
    killed_by_signal,
)

log = logging.getLogger(__name__)

NameCheck = Callable[[str, bool], "str | None"]
"""``check(path, is_dir)``: why ``path`` cannot be stored, or None if it can."""

# vim swap/backup and its "4913" probe, emacs/gedit backups, GNU sed -i temp files
TEMP_NAME = re.compile(r"\.sw[a-p]x?$|~$|^4913$|^sed[A-Za-z0-9]{6}$|^\.#|^#.*#$")
WHOLE_READ_LIMIT = 32 << 20  # remote values up to this are read in one request, as one version
READ_AHEAD = 1 << 20  # the kernel's read size for page-cached reads (it caps it at 1 MiB)
# libfuse passes "now" and "leave as is" in the nanoseconds of a zero time (utimensat's values)
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
ATOMIC_O_TRUNC = 1 << 3  # FUSE_CAP_ATOMIC_O_TRUNC: O_TRUNC comes with open, not as a truncate
HIDDEN = ".fuse_hidden"  # the name libfuse gives a file removed while open
JOURNALS = "persidict-mount-journals"  # in the temp folder: see fuse_files.Journal


def _fail(code: int) -> mfusepy.FuseOSError:
    return mfusepy.FuseOSError(code)


@dataclass
class TempHandle:
    """An open editor temp file: its bytes are the MemFile of its path."""

    path: str
    lock: threading.Lock = field(default_factory=threading.Lock)


Handle = Reader | Writer | TempHandle


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
        local: bool = False,
        spill_threshold: int = SPILL_THRESHOLD,
        spill_dir: str | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.fs = fs
        self.tree = TreeCache(fs, root, cache_ttl)
        self.check_name = check_name or (lambda path, is_dir: None)
        self.read_only = read_only
        self.local = local  # the store is a folder here: open files hold their version
        self.spill_threshold = spill_threshold
        self.spill_dir = spill_dir
        self.journal = journal or Journal(os.path.join(tempfile.gettempdir(), JOURNALS))
        self.started = False  # set once the kernel has the mount
        self._fuse = None  # libfuse's handle of this mount, for exit_loop
        self._lock = threading.RLock()
        self._mem: dict[str, MemFile] = {}
        self._hidden: dict[str, Stat] = {}  # removed while open: see _hide
        self._dirs: set[str] = set()  # emptied through the mount: shown until the cache says
        self._handles: dict[int, Handle] = {}
        self._writers: dict[str, Writer] = {}
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
        """What everyone but a file's own writer sees: the stored value, until it commits."""
        with self._lock:
            mem = self._mem.get(rel)
            if mem is not None:
                return Stat(False, len(mem.data), mem.mtime)
            hidden = self._hidden.get(rel)
            if hidden is not None:
                return hidden
            pending = rel in self._writers
            if rel in self._dirs:
                return Stat(True)
        st = self.tree.stat(rel)
        if st is None and pending:  # created, not yet committed: empty until then
            return Stat(False, 0, time.time())
        return st

    def _require_dir(self, rel: str) -> None:
        st = self._stat(rel)
        if st is None:
            raise _fail(errno.ENOENT)
        if not st.is_dir:
            raise _fail(errno.ENOTDIR)

    def _keep_dir(self, rel: str) -> None:
        """Keep folder ``rel`` (and its parents) visible though it may hold no file."""
        with self._lock:
            while rel:
                self._dirs.add(rel)
                rel = self._split(rel)[0]

    def _kind(self, rel: str) -> str:
        """'key' if ``rel`` can be stored, 'mem' for temp names, else EINVAL (logged)."""
        problem = self.check_name(self._full(rel), False)
        if problem is None:
            return "key"
        if TEMP_NAME.search(self._split(rel)[1]):
            return "mem"
        log.warning("refused %r: %s", "/" + rel, problem)
        raise _fail(errno.EINVAL)

    def _writable(self) -> None:
        if self.read_only:
            raise _fail(errno.EROFS)

    def _spool(self) -> Spool:
        return Spool(self.spill_threshold, self.spill_dir)

    def _commit(
        self, rel: str, spool: Spool, mtime: float | None = None, append: bool = False
    ) -> None:
        """Store the spool's bytes at ``rel`` atomically (and then ``mtime`` if given).

        ``append``: after the stored bytes, as one atomic append (``append_file``).
        """
        targets: list[str] = []

        def note(path: str) -> None:  # the store's temp file, if a crash should leave it
            targets.append(path)
            self.journal.add(path)

        try:
            size = spool.size
            if append:
                size = self.fs.append_file(self._full(rel), spool.payload(note), repeatable=True)
            else:
                self.fs.pipe_file(self._full(rel), spool.payload(note))
            if mtime is not None and not self._set_mtime(rel, mtime):
                mtime = None
        except Exception as exc:
            # the stored value is unchanged; the writer's close() reports EIO
            log.error("could not store %r: %s", "/" + rel, exc)
            raise _fail(errno.EIO) from exc
        finally:
            if targets:
                self.journal.remove(targets)
        self.tree.remember(rel, Stat(False, size, mtime or time.time()))

    def _commit_writer(self, w: Writer) -> None:
        """Commit what ``w`` holds: its whole file, or its new bytes as an append."""
        self._commit(w.path, w.spool, w.mtime, append=w.appending)
        if w.appending:
            w.spool.truncate(0)  # stored: the next bytes go after them

    def _load(self, w: Writer, upto: int | None = None) -> None:
        """Copy the stored value (its first ``upto`` bytes) into the writer's spool, once.

        An appender's new bytes go after the whole stored value: from now on
        it commits its whole file, as other writers do.
        """
        if w.loaded:
            return
        added = None
        if w.appending:
            added, w.spool, w.appending, upto = w.spool, self._spool(), False, None
        try:
            with store_io("read", w.path), self.fs.open_stored(self._full(w.path)) as src:
                copy_stream(src, w.spool, upto)
        except FileNotFoundError:
            pass
        if added is not None:
            for offset in range(0, added.size, COPY_BLOCK):
                w.spool.write(w.spool.size, added.read(offset, COPY_BLOCK))
            added.close()
        w.loaded = True

    def _activate(self, r: Reader) -> None:
        """Decide how ``r`` reads: an open file of a local value or of a big remote one
        (ranged requests of one version), a small remote one whole (one request)."""
        if r.data is not None or r.source is not None:
            return
        full = self._full(r.path)
        try:
            with store_io("read", r.path):
                if self.local:
                    r.source = self.fs.open_stored(full)
                    return
                st = self.tree.stat(r.path)
                if st is not None and st.size > WHOLE_READ_LIMIT:
                    r.source = self.fs.open_stored(full)  # ranged reads of one version
                else:
                    r.data = self.fs.cat_file(full)
        except FileNotFoundError:
            r.data = b""  # created but not yet committed: empty until then

    def init_with_config(self, conn: Any, config: Any) -> None:
        self._fuse = mfusepy._libfuse.fuse_get_context().contents.fuse
        self.started = True
        if conn is not None:
            conn.max_readahead = READ_AHEAD  # fewer, larger reads of big values
            if conn.capable & ATOMIC_O_TRUNC:
                conn.want |= ATOMIC_O_TRUNC
            log.debug("kernel: capable %#x, want %#x", conn.capable, conn.want)

    def exit_loop(self) -> None:
        """Have libfuse end its loop once the requests under way are answered (any thread)."""
        with self._lock:
            if self._fuse:
                mfusepy._libfuse.fuse_exit(ctypes.c_void_p(self._fuse))

    def destroy(self, path: str) -> None:
        with self._lock:
            self._fuse = None  # libfuse frees it next: exit_loop must not touch it

    # attributes and listings
    def _writer_stat(self, w: Writer) -> Stat | None:
        """What a file's own writer sees: what it wrote, at the time it set or now."""
        if w.appending and w.spool.size:  # the stored value and its bytes to append
            st = self._stat(w.path)
            size = (st.size if st is not None else 0) + w.spool.size
            return Stat(False, size, w.mtime or time.time())
        if not w.loaded:
            return self._stat(w.path)
        return Stat(False, w.spool.size, w.mtime or time.time())

    def _replying(self, rel: str) -> Writer | None:
        """The writer of ``rel`` if the kernel asks for the attributes it just set."""
        with self._lock:
            w = self._writers.get(rel)
            if w is None or not w.replying:
                return None
            w.replying = False
            return w

    def getattr(self, path: str | None, fh: Any = None) -> dict[str, Any]:
        h = self._handles.get(fh.fh) if fh is not None else None
        replying = None if h is not None or path is None else self._replying(path.strip("/"))
        if isinstance(h, Writer) or replying is not None:
            st: Stat | None = self._writer_stat(replying or h)  # type: ignore[arg-type]
        elif path is None:  # open, and its name removed
            st = Stat(False, 0, self._born) if h is None else self._open_stat(h)
        else:
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

    def _open_stat(self, h: Handle) -> Stat:
        """Attributes of a file whose name is gone, from its open handle."""
        if isinstance(h, Reader):
            with h.lock:
                if h.data is not None:
                    return Stat(False, len(h.data), self._born)
                if h.source is not None:
                    size = h.source.seek(0, os.SEEK_END)
                    return Stat(False, size, self._born)
        return Stat(False, 0, self._born)

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
        with self._lock:
            fh = self._next_fh
            self._next_fh += 1
            self._handles[fh] = h
            if isinstance(h, Writer):
                self._writers[h.path] = h
        fi.fh = fh
        return 0

    def open(self, path: str, fi: Any) -> int:
        rel = path.strip("/")
        flags = fi.flags
        writable = flags & os.O_ACCMODE != os.O_RDONLY
        if writable:
            self._writable()
        with self._lock:
            mem = self._mem.get(rel)
        if mem is not None:
            if writable and flags & os.O_TRUNC:
                mem.data.clear()
            return self._open(TempHandle(rel), fi)
        if not writable:
            # its source is opened at the first read (or at an rm): a reopen that the
            # kernel's page cache serves costs no store call
            self._open(Reader(rel), fi)
            if hasattr(fi, "noflush"):
                fi.noflush = 1  # a reader's close has nothing to commit: spare the round trip
            return 0
        w = Writer(rel, self._spool(), append=bool(flags & os.O_APPEND))
        w.opener = mfusepy.fuse_get_context()[2]
        if flags & os.O_TRUNC:
            w.loaded = w.dirty = True  # empty, committed when the writer closes
        else:
            w.appending = w.append  # nothing loaded: its bytes are appended at close
        self._open(w, fi)
        fi.direct_io = 1  # writes bypass the page cache: a failed commit leaves no trace
        return 0

    def create(self, path: str, mode: int, fi: Any) -> int:
        self._writable()
        rel = path.strip("/")
        if self._kind(rel) == "mem":
            with self._lock:
                self._mem[rel] = MemFile(bytearray())
            return self._open(TempHandle(rel), fi)
        w = Writer(rel, self._spool(), append=bool(fi.flags & os.O_APPEND))
        w.opener = mfusepy.fuse_get_context()[2]
        w.dirty = True
        w.appending = w.append  # `>>` of a new file: two at once both land
        w.loaded = not w.appending
        self._open(w, fi)
        fi.direct_io = 1
        return 0

    def read(self, path: str | None, size: int, offset: int, fi: Any) -> bytes:
        h = self._handles[fi.fh]
        with h.lock:
            if isinstance(h, TempHandle):
                return bytes(self._mem[h.path].data[offset : offset + size])
            if isinstance(h, Writer):
                self._load(h)
                return h.spool.read(offset, size)
            self._activate(h)
            with store_io("read", h.path):
                return h.read(size, offset)

    def write(self, path: str | None, data: bytes, offset: int, fi: Any) -> int:
        h = self._handles[fi.fh]
        with h.lock:
            if isinstance(h, TempHandle):
                mem = self._mem[h.path]
                if offset > len(mem.data):
                    mem.data.extend(bytes(offset - len(mem.data)))
                mem.data[offset : offset + len(data)] = data
                mem.mtime = time.time()
                return len(data)
            if not isinstance(h, Writer):
                raise _fail(errno.EBADF)
            if not h.appending:
                self._load(h)
            h.spool.write(h.spool.size if h.append else offset, data)
            h.dirty = h.written = True
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
        if writer is not None:  # ftruncate, or truncate(2) of a file open for writing
            with writer.lock:
                self._load(writer, upto=length)
                writer.spool.truncate(length)
                writer.dirty = writer.written = writer.replying = True
            return 0
        w = Writer(rel, self._spool())  # not open for writing: cut or pad, commit now
        try:
            self._load(w, upto=length)
            w.spool.truncate(length)
            self._commit(rel, w.spool)
        finally:
            w.close()
        return 0

    def flush(self, path: str | None, fi: Any) -> int:
        h = self._handles.get(fi.fh)
        # Every close() of a copy of the descriptor flushes: a forked child's exec,
        # the shell's open-dup2-close before `echo` writes. Committing then would
        # show a half-written or empty value, so only the opener's close after a
        # write commits; release (the last close) commits whatever is left.
        if not isinstance(h, Writer):
            return 0
        pid = mfusepy.fuse_get_context()[2]
        signal = killed_by_signal(pid)
        if signal:  # a crash, not a close: the old value stays whole
            log.warning("writer of %r killed by signal %d: its bytes are dropped", h.path, signal)
            h.killed = True
        elif pid == h.opener:
            with h.lock:
                if h.dirty and h.written and not h.unlinked and not h.killed:
                    h.dirty = h.written = False  # a failure is reported once, not on release
                    self._commit_writer(h)
        return 0

    def release(self, path: str | None, fi: Any) -> int:
        with self._lock:
            h = self._handles.pop(fi.fh, None)
            if isinstance(h, Writer) and self._writers.get(h.path) is h:
                del self._writers[h.path]
        if h is None or isinstance(h, TempHandle):
            return 0
        with h.lock:
            try:
                if isinstance(h, Writer) and h.dirty and not h.unlinked and not h.killed:
                    # logged by _commit; release has no caller to tell
                    with contextlib.suppress(mfusepy.FuseOSError):
                        self._commit_writer(h)
            finally:
                h.close()
        return 0

    # names
    def unlink(self, path: str) -> int:
        self._writable()
        rel = path.strip("/")
        with self._lock:
            if self._mem.pop(rel, None) is not None or self._hidden.pop(rel, None) is not None:
                return 0
            # POSIX: an unlinked file's data goes with its last close: its readers
            # keep reading it, and whoever writes it must not store it again then
            readers = [h for h in self._handles.values() if h.path == rel]
            writer = self._writers.pop(rel, None)
        for h in readers:
            if isinstance(h, Writer):
                h.unlinked = True
            elif isinstance(h, Reader):
                with h.lock:
                    self._activate(h)
        try:
            with store_io("delete", rel):
                self.fs.rm_file(self._full(rel))
        except FileNotFoundError:
            if writer is None:  # else it was created but not yet committed
                raise _fail(errno.ENOENT) from None
        self.tree.remember(rel, None)
        self._keep_dir(self._split(rel)[0])
        return 0

    def _hide(self, src: str, dst: str, st: Stat) -> None:
        """rm of a file that is open: gone from the store, kept for its open handles.

        libfuse renames such a file to a hidden name and unlinks that at the
        last close; meanwhile ``fstat`` of its descriptors asks for that name.
        """
        with self._lock:
            mem = self._mem.pop(src, None)
        if mem is None:
            self.unlink(src)
        with self._lock:
            if mem is not None:
                self._mem[dst] = mem
            else:
                self._hidden[dst] = st
            for h in self._handles.values():
                if h.path == src:
                    h.path = dst

    def mkdir(self, path: str, mode: int) -> int:
        self._writable()
        rel = path.strip("/")
        if self._stat(rel) is not None:
            raise _fail(errno.EEXIST)
        problem = self.check_name(self._full(rel), True)
        if problem:
            log.warning("refused folder %r: %s", path, problem)
            raise _fail(errno.EINVAL)
        with store_io("make folder", rel):
            self.fs.mkdir(self._full(rel))
        self.tree.remember(rel, Stat(True))
        self._keep_dir(rel)
        return 0

    def _children(self, rel: str) -> bool:
        prefix = rel + "/"
        with self._lock:
            local = any(p.startswith(prefix) for p in [*self._mem, *self._writers])
        return local or bool(self.tree.list(rel, fresh=True))

    def rmdir(self, path: str) -> int:
        self._writable()
        rel = path.strip("/")
        self._require_dir(rel)
        if self._children(rel):
            raise _fail(errno.ENOTEMPTY)
        self._forget_dir(rel)
        self._rmdir_stored(rel)
        self.tree.remember(rel, None)
        return 0

    def _forget_dir(self, rel: str) -> None:
        with self._lock:
            self._dirs -= {p for p in self._dirs if p == rel or p.startswith(rel + "/")}

    def _rmdir_stored(self, rel: str) -> None:
        try:
            with store_io("remove folder", rel):
                self.fs.rmdir(self._full(rel))
        except FileNotFoundError:
            pass  # a folder that only its files made

    def rename(self, old: str, new: str) -> int:
        self._writable()
        src, dst = old.strip("/"), new.strip("/")
        st = self._stat(src)
        if st is None:
            raise _fail(errno.ENOENT)
        if self._split(dst)[1].startswith(HIDDEN) and not st.is_dir:
            self._hide(src, dst, st)
            return 0
        target = self._stat(dst)
        if st.is_dir:
            if target is not None and (not target.is_dir or self._children(dst)):
                raise _fail(errno.ENOTEMPTY if target.is_dir else errno.ENOTDIR)
            if target is not None:
                self._forget_dir(dst)
                self._rmdir_stored(dst)
            self._move_dir(src, dst)
        else:
            if target is not None and target.is_dir:
                raise _fail(errno.EISDIR)
            self._move_file(src, dst, st)
        with self._lock:  # files still open follow their name
            for h in self._handles.values():
                if h.path == src:
                    h.path = dst
            if src in self._writers:
                self._writers[dst] = self._writers.pop(src)
        return 0

    def _move_file(self, src: str, dst: str, st: Stat) -> None:
        kind = self._kind(dst)
        with self._lock:
            mem = self._mem.get(src)
            writer = self._writers.get(src)
        if writer is not None and writer.dirty and kind == "key":
            # renamed while open with uncommitted bytes: they go to the new name
            # at the writer's close, as a whole; the old name is gone now
            with writer.lock:
                self._load(writer)  # an appender's stored bytes go with it
            writer.written = True
            with contextlib.suppress(FileNotFoundError), store_io("delete", src):
                self.fs.rm_file(self._full(src))
            self.tree.remember(src, None)
            return
        spool = self._spool()
        try:
            if mem is not None:
                spool.write(0, bytes(mem.data))
            else:
                with store_io("read", src), self.fs.open_stored(self._full(src)) as f:
                    copy_stream(f, spool)
            if kind == "mem":
                with self._lock:
                    self._mem[dst] = MemFile(bytearray(spool.read(0, spool.size)), st.mtime)
            else:
                self._commit(dst, spool, st.mtime or None)  # a rename keeps the time
                with self._lock:
                    self._mem.pop(dst, None)
        finally:
            spool.close()
        if mem is not None:
            with self._lock:
                self._mem.pop(src, None)
        else:
            with store_io("delete", src):
                self.fs.rm_file(self._full(src))
            self.tree.remember(src, None)
            self._keep_dir(self._split(src)[0])

    def _move_dir(self, src: str, dst: str) -> None:
        """Move every file under ``src``: one listing, then batched read, write, delete."""
        base = self._full(src)
        with store_io("list", src):
            found = self.fs.find(base, withdirs=True, detail=True)
        files = [p for p, info in found.items() if info["type"] == "file"]
        for p in files:  # every new name must be storable before anything moves
            self._kind(dst + p[len(base) :])
        with store_io(f"move to {'/' + dst!r}", src):
            self.fs.mkdir(self._full(dst))
            for p in sorted(p for p, info in found.items() if info["type"] == "directory"):
                self.fs.mkdir(self._full(dst) + p[len(base) :])
            if files:
                data = self.fs.cat(files)
                self.fs.pipe({self._full(dst) + p[len(base) :]: v for p, v in data.items()})
                self.fs.rm(files)
            for p in sorted(found, key=len, reverse=True):
                if found[p]["type"] == "directory":
                    self._rmdir_stored(src + p[len(base) :])
        self._rmdir_stored(src)
        with self._lock:
            for table in (self._mem, self._writers):
                for p in [p for p in table if p.startswith(src + "/")]:
                    table[dst + p[len(src) :]] = table.pop(p)  # type: ignore[assignment]
            for h in self._handles.values():  # open files follow, to commit under the new name
                if h.path.startswith(src + "/"):
                    h.path = dst + h.path[len(src) :]
        self._forget_dir(src)
        self._keep_dir(self._split(src)[0])
        self.tree.forget_all()

    # metadata
    def utimens(self, path: str | None, times: Any = None) -> int:
        """Set the modification time (kept by the store); the access time is not kept."""
        if path is None:
            return 0  # an open file whose name is gone: its time goes with it
        rel = path.strip("/")
        given = times[1] if times is not None else UTIME_NOW
        if given == UTIME_OMIT:
            return 0
        mtime = time.time() if given == UTIME_NOW else given / 1e9
        with self._lock:
            mem = self._mem.get(rel)
            writer = self._writers.get(rel)
        if mem is not None:
            mem.mtime = mtime
            return 0
        if writer is not None and writer.dirty:
            if given != UTIME_NOW:  # "now" is the commit's own time
                writer.mtime = mtime  # set when its bytes are committed
            writer.replying = True
            return 0
        st = self._stat(rel)
        if st is None:
            raise _fail(errno.ENOENT)
        if st.is_dir:
            return 0  # folders have no time of their own in a store
        self._writable()
        with store_io("set the time of", rel):
            if self._set_mtime(rel, mtime):
                self.tree.remember(rel, Stat(False, st.size, mtime))
        return 0

    def _set_mtime(self, rel: str, mtime: float) -> bool:
        """Have the store keep ``mtime`` for ``rel``; False if it keeps no times."""
        try:
            self.fs.set_mtime(self._full(rel), mtime)
        except io.UnsupportedOperation as exc:  # a store without times: as on FAT
            log.debug("time of %r not kept: %s", "/" + rel, exc)
            return False
        return True

    # metadata the stores do not keep: accepted and ignored, as on FAT or S3 mounts
    def chmod(self, path: str | None, mode: int) -> int:
        if path is None:
            return 0
        rel = path.strip("/")
        with self._lock:
            writer = self._writers.get(rel)
            if writer is not None:
                writer.replying = True
                return 0
        if self._stat(rel) is None:
            raise _fail(errno.ENOENT)
        return 0

    def chown(self, path: str | None, uid: int, gid: int) -> int:
        return self.chmod(path, 0)

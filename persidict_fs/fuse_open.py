"""FUSE operations on open files: open, create, read, write, truncate, flush, release.

:class:`OpenFileOps` is a mixin on :class:`~persidict_fs.fuse_commits.Commits`
(and so on :class:`~persidict_fs.fuse_state.MountState`): it registers each
open file in ``_handles`` (a writer also in ``_writers``, by path) and commits
a writer's bytes at the opener's close or at the last one.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
from typing import Any

import mfusepy

from persidict_fs.fuse_cache import Stat, store_io
from persidict_fs.fuse_commits import Commits
from persidict_fs.fuse_files import (
    BIG,
    Handle,
    MemFile,
    Reader,
    TempHandle,
    Writer,
    give_back_memory,
    killed_by_signal,
)
from persidict_fs.fuse_pages import DIRECT, DROP, KEEP, version_of
from persidict_fs.fuse_state import fail

log = logging.getLogger(__name__)


class OpenFileOps(Commits):
    """Open files: readers of one stored version, spooled writers, editor temp files."""

    def _open(self, h: Handle, fi: Any) -> int:
        with self._lock:
            fh = self._next_fh
            self._next_fh += 1
            self._handles[fh] = h
            if isinstance(h, Writer):
                self._writers[h.path] = h
                for r in self._handles.values():
                    if isinstance(r, Reader) and r.paged and r.path == h.path:
                        r.overlapped = True
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
            return self._open_reader(rel, fi)
        w = Writer(rel, self._spool(), append=bool(flags & os.O_APPEND))
        w.opener = mfusepy.fuse_get_context()[2]
        if flags & os.O_TRUNC:
            w.loaded = w.dirty = True  # empty, committed when the writer closes
        else:
            w.appending = w.append  # nothing loaded: its bytes are appended at close
        self._open(w, fi)
        fi.direct_io = 1  # writes bypass the page cache: a failed commit leaves no trace
        return 0

    def _open_reader(self, rel: str, fi: Any) -> int:
        """Pin the reader to the stored version now; share the kernel's pages if they are
        of that version (``fuse_pages``)."""
        r = Reader(rel)
        self._activate(r)
        st = self._reader_stat(r)
        r.size = st.size
        # one step with the writers' opens (under the lock): a writer opening now either
        # is seen here, or sees this reader and marks it overlapped
        with self._lock:
            if rel in self._writers:
                # the kernel's size of the file is its writer's: read the last commit around it
                how = DIRECT
            else:
                how = self.pages.admit(rel, version_of(r.data, r.source), st)
            if how == DIRECT:
                fi.direct_io = 1  # another version's pages are in use: read around them
            else:
                r.paged = True
                fi.keep_cache = int(how == KEEP)
            self._open(r, fi)
        if how == DROP:
            # the kernel's size of this file may be another version's (not for DIRECT:
            # the readers of the cached version read up to that size)
            self.invalidate(rel)
        if hasattr(fi, "noflush"):
            fi.noflush = 1  # a reader's close has nothing to commit: spare the round trip
        return 0

    def _reader_stat(self, r: Reader) -> Stat:
        """The attributes of the version ``r`` reads: its exact size, the stored time."""
        st = self.tree.stat(r.path)
        mtime = st.mtime if st is not None else time.time()
        if r.data is not None:
            return Stat(False, len(r.data), mtime)
        return Stat(False, r.source.seek(0, os.SEEK_END), mtime)  # type: ignore[union-attr]

    def create(self, path: str, mode: int, fi: Any) -> int:
        self._writable()
        rel = path.strip("/")
        if self._kind(rel) == "mem":
            with self._lock:
                self._mem[rel] = MemFile(bytearray())
            return self._open(TempHandle(rel), fi)
        w = Writer(rel, self._spool(), append=bool(fi.flags & os.O_APPEND))
        w.opener = mfusepy.fuse_get_context()[2]
        self._entries_changed(rel)
        w.dirty = w.created = True
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
            if h.overlapped:
                # The kernel keeps one size per file and the writer's truncates and
                # writes set it: this reader's version would end early or be filled
                # with zeros. Fail loudly rather than give a value nobody wrote.
                log.warning(
                    "read of %r (a version of %d bytes) while the file is rewritten "
                    "through this mount: EIO; reopen it to read the last commit",
                    "/" + h.path,
                    h.size,
                )
                raise fail(errno.EIO)
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
                raise fail(errno.EBADF)
            if not h.appending:
                self._load(h)
            h.spool.write(h.spool.size if h.append else offset, data)
            h.dirty = h.written = True
            h.mtime = None  # a write after a time was set makes it now, as on a disk
        return len(data)

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        self._writable()
        rel = path.strip("/")
        with self._lock:
            mem = self._mem.get(rel)
            h = self._handles.get(fh.fh) if fh is not None else None
            writer = h if isinstance(h, Writer) else self._writers.get(rel)
        if mem is not None:
            del mem.data[length:]
            mem.data.extend(bytes(length - len(mem.data)))
            return 0
        if writer is not None:  # ftruncate, or truncate(2) of a file open for writing
            with writer.lock:
                self._load(writer, upto=length)
                writer.spool.truncate(length)
                writer.dirty = writer.written = True
            return 0
        if self._stat(rel) is None:
            raise fail(errno.ENOENT)
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
                # a file it created is committed at its close even if nothing was
                # written: once close() returns, the file is there, as on a disk
                if h.dirty and (h.written or h.created) and not h.unlinked and not h.killed:
                    h.created = False
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
        if isinstance(h, Reader) and h.paged:
            shown = self.pages.release(h.path)
            if shown is not None:
                # the size shown was the readers': unless the cache knows the stored one is
                # the same (no request here: release is on every reader's close path)
                known = self.tree.peek(h.path)
                if known is None or known.size != shown.size or h.path in self._writers:
                    self.invalidate(h.path)
        with h.lock:
            big = (h.spool.size if isinstance(h, Writer) else h.size) >= BIG
            try:
                if isinstance(h, Writer) and h.dirty and not h.unlinked and not h.killed:
                    # logged by _commit; release has no caller to tell
                    with contextlib.suppress(mfusepy.FuseOSError):
                        self._commit_writer(h)
            finally:
                h.close()
        if big:
            give_back_memory()
        return 0

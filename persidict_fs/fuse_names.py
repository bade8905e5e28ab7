"""FUSE operations on names: unlink, rename, mkdir, rmdir.

:class:`NameOps` is a mixin on :class:`~persidict_fs.fuse_commits.Commits`
(and so on :class:`~persidict_fs.fuse_state.MountState`): files open under a
name that goes or moves follow it in ``_handles`` and ``_writers``; a renamed
file is copied through a spool and committed under its new name.
"""

from __future__ import annotations

import contextlib
import errno
import logging

from persidict_fs.fuse_cache import Stat, store_io
from persidict_fs.fuse_commits import Commits
from persidict_fs.fuse_files import MemFile, Reader, Writer, copy_stream
from persidict_fs.fuse_state import HIDDEN, fail

log = logging.getLogger(__name__)


class NameOps(Commits):
    """Removing, renaming and making files and folders."""

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
                with h.lock:
                    self._load(h)  # its descriptors still read the bytes, as on a disk
                h.unlinked = True
            elif isinstance(h, Reader):
                with h.lock:
                    self._activate(h)
        try:
            with store_io("delete", rel):
                self.fs.rm_file(self._full(rel))
        except FileNotFoundError:
            if writer is None:  # else it was created but not yet committed
                raise fail(errno.ENOENT) from None
        self.tree.remember(rel, None)
        self._keep_dir(self._split(rel)[0])
        self._entries_changed(rel)
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
                    if isinstance(h, Writer):  # its descriptors still write, truncate, fstat
                        self._writers[dst] = h
                        self._hidden.pop(dst, None)

    def mkdir(self, path: str, mode: int) -> int:
        self._writable()
        rel = path.strip("/")
        if self._stat(rel) is not None:
            raise fail(errno.EEXIST)
        problem = self.check_name(self._full(rel), True)
        if problem:
            log.warning("refused folder %r: %s", path, problem)
            raise fail(errno.EINVAL)
        with store_io("make folder", rel):
            self.fs.mkdir(self._full(rel))
        self.tree.remember(rel, Stat(True))
        self._keep_dir(rel)
        self._entries_changed(rel)
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
            raise fail(errno.ENOTEMPTY)
        self._forget_dir(rel)
        self._rmdir_stored(rel)
        self.tree.remember(rel, None)
        self._entries_changed(rel)
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
            raise fail(errno.ENOENT)
        if self._split(dst)[1].startswith(HIDDEN) and not st.is_dir:
            self._hide(src, dst, st)
            self.pages.moved(src, dst)
            return 0
        target = self._stat(dst)
        if st.is_dir:
            if target is not None and (not target.is_dir or self._children(dst)):
                raise fail(errno.ENOTEMPTY if target.is_dir else errno.ENOTDIR)
            if target is not None:
                self._forget_dir(dst)
                self._rmdir_stored(dst)
            self._move_dir(src, dst)
        else:
            if target is not None and target.is_dir:
                raise fail(errno.EISDIR)
            self._move_file(src, dst, st)
        self.pages.moved(src, dst)  # the kernel's inode moves with the name
        self._entries_changed(src, dst)
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

"""The state of a FUSE mount and what it shows: its pending files over the store's tree.

:class:`MountState` is the base of the operation mixins (``fuse_commits``,
``fuse_open``, ``fuse_names``, ``fuse_attrs``) that together make
``persidict_fs.fuse.StoreOperations``. It holds what they share, all under
``_lock``: the open handles (``_handles``, and ``_writers`` by path), editor
temp files kept in memory (``_mem``), files removed while open (``_hidden``)
and folders emptied through the mount (``_dirs``); and the helpers that read
them over the cached tree (``_stat``, ``_kind``, ...).
"""

from __future__ import annotations

import errno
import io
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable

import mfusepy
from fsspec.spec import AbstractFileSystem

from persidict_fs.fuse_cache import Stat, TreeCache
from persidict_fs.fuse_files import SPILL_THRESHOLD, Handle, Journal, MemFile, Spool, Writer
from persidict_fs.fuse_pages import Invalidator, KernelPages

log = logging.getLogger(__name__)

NameCheck = Callable[[str, bool], "str | None"]
"""``check(path, is_dir)``: why ``path`` cannot be stored, or None if it can."""

# vim swap/backup and its "4913" probe, emacs/gedit backups, GNU sed -i temp files
TEMP_NAME = re.compile(r"\.sw[a-p]x?$|~$|^4913$|^sed[A-Za-z0-9]{6}$|^\.#|^#.*#$")
HIDDEN = ".fuse_hidden"  # the name libfuse gives a file removed while open
JOURNALS = "persidict-mount-journals"  # in the temp folder: see fuse_files.Journal


SHARED_MEMORY = re.compile(r"-shm$")  # SQLite's WAL index: kept in memory, mmap-able
NAME_MAX = 255  # bytes in one name, as on Linux disks


def check_length(name: str) -> None:
    """ENAMETOOLONG for a name longer than a Linux disk allows."""
    if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise fail(errno.ENAMETOOLONG)


def fail(code: int) -> mfusepy.FuseOSError:
    """The error a FUSE operation raises to answer ``-code``."""
    return mfusepy.FuseOSError(code)


class MountState(mfusepy.Operations):
    """What the operations share: the view ``fs`` under ``root``, the cached tree, open files."""

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
        self._hidden: dict[str, Stat] = {}  # removed while open: see NameOps._hide
        self._dirs: set[str] = set()  # emptied through the mount: shown until the cache says
        # folders keep no time in a store: the mount keeps theirs while it runs (set by
        # touch/rsync, moved on by every entry made or removed through it)
        self._dir_times: dict[str, float] = {}
        self.pages = KernelPages()  # which version of each file the kernel caches
        self.invalidate = Invalidator()  # tell the kernel that a file changed
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
        """What the mount shows of ``rel``: a file open for writing as its writer sees it (as
        on a disk, its size grows with every write), else the stored value; but while
        readers read a version through the kernel's pages, that version's size
        (``fuse_pages``)."""
        check_length(self._split(rel)[1])
        with self._lock:
            mem = self._mem.get(rel)
            if mem is not None:
                return Stat(False, len(mem.data), mem.mtime)
            hidden = self._hidden.get(rel)
            if hidden is not None:
                return hidden
            writer = self._writers.get(rel)
            if rel in self._dirs:
                return Stat(True)
        if writer is not None:
            st: Stat | None = self._writer_stat(writer)
        else:
            st = self.tree.stat(rel)
        held = self.pages.held(rel)
        if held is not None and st is not None and not st.is_dir:
            # readers of that version read through the kernel's pages, which end at the
            # size it keeps for the file: show theirs (the time shows the change)
            return Stat(False, held.size, st.mtime)
        return st

    def _writer_stat(self, w: Writer) -> Stat:
        """What a file's writer wrote, at the time it set or now."""
        if w.loaded:
            return Stat(False, w.spool.size, time.time() if w.mtime is None else w.mtime)
        st = self.tree.stat(w.path)  # not loaded: the stored value, then its appended bytes
        if st is None or st.is_dir:
            st = Stat(False, 0, time.time())
        if w.appending and w.spool.size:
            return Stat(False, st.size + w.spool.size, time.time() if w.mtime is None else w.mtime)
        return st

    def _dir_time(self, rel: str) -> float:
        with self._lock:
            return self._dir_times.get(rel, self._born)

    def _entries_changed(self, *paths: str) -> None:
        """Names were made or removed at ``paths``: their folders' times are now."""
        now = time.time()
        with self._lock:
            for rel in paths:
                self._dir_times[self._split(rel)[0]] = now

    def _require_dir(self, rel: str) -> None:
        st = self._stat(rel)
        if st is None:
            raise fail(errno.ENOENT)
        if not st.is_dir:
            raise fail(errno.ENOTDIR)

    def _keep_dir(self, rel: str) -> None:
        """Keep folder ``rel`` (and its parents) visible though it may hold no file."""
        with self._lock:
            while rel:
                self._dirs.add(rel)
                rel = self._split(rel)[0]

    def _kind(self, rel: str) -> str:
        """'key' if ``rel`` can be stored, 'mem' for temp names and SQLite's shared-memory
        index (mapped by every connection, rebuilt from the WAL, never worth storing),
        else EINVAL (logged)."""
        name = self._split(rel)[1]
        check_length(name)
        if SHARED_MEMORY.search(name):
            return "mem"
        problem = self.check_name(self._full(rel), False)
        if problem is None:
            return "key"
        if TEMP_NAME.search(name):
            return "mem"
        log.warning("refused %r: %s", "/" + rel, problem)
        raise fail(errno.EINVAL)

    def _writable(self) -> None:
        if self.read_only:
            raise fail(errno.EROFS)

    def _spool(self) -> Spool:
        return Spool(self.spill_threshold, self.spill_dir)

    def _set_mtime(self, rel: str, mtime: float, size: int) -> bool:
        """Have the store keep ``mtime`` for ``rel`` (of ``size`` bytes); False if it keeps
        no times."""
        try:
            self.fs.set_mtime(self._full(rel), mtime)
        except io.UnsupportedOperation as exc:  # a store without times: as on FAT
            log.debug("time of %r not kept: %s", "/" + rel, exc)
            return False
        self.tree.kept_time(rel, size, mtime)
        return True

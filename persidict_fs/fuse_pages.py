"""What the kernel may cache of each file's bytes, and telling it when that is stale.

The kernel keeps a file's pages (and its size) per inode, shared by every
reader. Each reader of the mount is pinned at open to one version of the
stored value (:func:`version_of` names it), and the kernel's pages of a
file are only ever of one version:

- no page-cached reader open: the new reader's version becomes the cached
  one; the pages are kept if they are of that version, else dropped at open;
- readers of the cached version open: a reader of the same version shares
  the pages, a reader of another version reads around them (direct I/O,
  from its own pinned version), until the last of them closes.

Every commit through the mount also tells the kernel to drop the file's
pages and attributes (:class:`Invalidator`, libfuse's
``fuse_invalidate_path``), so nothing it cached outlives a change made here;
changes by other writers show once ``cache_ttl`` passes and at the next open.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import io
import logging
import os
import queue
import threading
from collections import Counter
from collections.abc import Hashable
from typing import Any

import mfusepy

from persidict_fs.fuse_cache import Stat

log = logging.getLogger(__name__)

# libfuse 3's call for the high-level API; mfusepy loads the library but does not wrap it
_invalidate_path = getattr(mfusepy._libfuse, "fuse_invalidate_path", None)
if _invalidate_path is not None:
    _invalidate_path.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    _invalidate_path.restype = ctypes.c_int

KEEP, DROP, DIRECT = "keep", "drop", "direct"


class Invalidator:
    """Tells the kernel that files changed (their pages and attributes), from a thread of its own.

    libfuse's rule: never from a request about that file, since the kernel may
    wait for it; and a notice can wait on a page that a read under way holds,
    which a single-threaded loop could never answer. So requests only queue
    paths here; :meth:`stop` ends the thread (before libfuse frees ``fuse``).
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._fuse: Any = None
        self._thread: threading.Thread | None = None
        self._live = threading.Lock()  # held while telling the kernel; see close

    def start(self, fuse: Any) -> None:
        if _invalidate_path is None or self._thread is not None:
            return
        self._fuse = fuse
        self._thread = threading.Thread(target=self._run, name="fuse-invalidate", daemon=True)
        self._thread.start()

    def __call__(self, path: str) -> None:
        """Have the kernel drop what it caches of ``path`` (soon, in order)."""
        if self._thread is not None:
            self._queue.put(path)

    def close(self) -> None:
        """Tell the kernel nothing more (call before libfuse's loop ends: it then frees
        the tables a notice reads); waits for a notice under way."""
        with self._live:
            self._fuse = None

    def stop(self) -> None:
        self.close()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        assert _invalidate_path is not None  # checked by start
        while (path := self._queue.get()) is not None:
            with self._live:
                if self._fuse is None:
                    continue
                err = _invalidate_path(self._fuse, ("/" + path).encode("utf-8", "surrogateescape"))
            if err and err != -errno.ENOENT:  # ENOENT: the kernel holds nothing of it
                log.debug("could not invalidate %r: error %d", "/" + path, -err)


def version_of(data: bytes | None, source: Any) -> Hashable | None:
    """A name of the version a reader holds (None if it cannot be told)."""
    if data is not None:
        return ("bytes", len(data), hashlib.blake2b(data, digest_size=16).digest())
    if isinstance(source, io.BytesIO):
        return version_of(source.getvalue(), None)
    try:
        st = os.fstat(source.fileno())
    except (AttributeError, io.UnsupportedOperation, OSError):
        version = getattr(source, "version", None)
        return None if version is None else ("remote", version)
    return ("file", st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class KernelPages:
    """For each path: the version whose pages (and size) the kernel may hold, its open readers.

    While readers of that version are open, the mount shows its attributes
    (:meth:`held`): the kernel keeps one size per file and ends every cached
    read there, so a newer size would cut those readers short.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: dict[str, tuple[Hashable, Stat]] = {}
        self._readers: Counter[str] = Counter()

    def admit(self, path: str, version: Hashable | None, st: Stat) -> str:
        """How a reader of ``version`` (attributes ``st``) reads: KEEP or DROP the pages
        (then it is counted until :meth:`release`), or DIRECT."""
        with self._lock:
            cached = self._version.get(path)
            if version is not None and cached is not None and cached[0] == version:
                self._readers[path] += 1
                return KEEP
            if version is None or self._readers[path]:
                return DIRECT
            self._version[path] = (version, st)
            self._readers[path] += 1
            return DROP

    def held(self, path: str) -> Stat | None:
        """The attributes of the version that open readers read through the kernel's pages."""
        with self._lock:
            if not self._readers[path]:
                return None
            return self._version[path][1]

    def release(self, path: str) -> Stat | None:
        """A reader admitted with KEEP or DROP closed; if it was the last one, the
        attributes shown while they read (else None)."""
        with self._lock:
            self._readers[path] -= 1
            if self._readers[path] > 0:
                return None
            del self._readers[path]
            return self._version[path][1]

    def moved(self, old: str, new: str) -> None:
        """``old`` was renamed to ``new``: its cached version and readers go with it."""
        with self._lock:
            cached = self._version.pop(old, None)
            count = self._readers.pop(old, 0)
            self._version.pop(new, None)
            self._readers.pop(new, None)
            if cached is not None:
                self._version[new] = cached
            if count:
                self._readers[new] = count

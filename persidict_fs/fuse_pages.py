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
pages and attributes at once (:func:`invalidate`, libfuse's
``fuse_invalidate_path``), so nothing it cached outlives a change made here;
changes by other writers show once ``cache_ttl`` passes and at the next open.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import logging
import os
import threading
from collections import Counter
from collections.abc import Hashable
from typing import Any

import mfusepy

log = logging.getLogger(__name__)

# libfuse 3's call for the high-level API; mfusepy loads the library but does not wrap it
_invalidate_path = getattr(mfusepy._libfuse, "fuse_invalidate_path", None)
if _invalidate_path is not None:
    _invalidate_path.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    _invalidate_path.restype = ctypes.c_int

KEEP, DROP, DIRECT = "keep", "drop", "direct"


def can_invalidate() -> bool:
    """True if this libfuse can tell the kernel that a file changed (libfuse 3)."""
    return _invalidate_path is not None


def invalidate(fuse: Any, path: str) -> None:
    """Have the kernel drop what it caches of ``path`` (its pages and attributes).

    Never call it while answering a getattr, setattr, read or write of that
    same file: the kernel may wait on that request (libfuse's rule).
    """
    if fuse is None or _invalidate_path is None:
        return
    err = _invalidate_path(fuse, ("/" + path).encode("utf-8", "surrogateescape"))
    if err and err != -2:  # -ENOENT: the kernel holds nothing of it
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
    """For each path: the version whose pages the kernel may hold, and its open readers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: dict[str, Hashable] = {}
        self._readers: Counter[str] = Counter()

    def admit(self, path: str, version: Hashable | None) -> str:
        """How a reader of ``version`` reads: KEEP or DROP the pages (then counted), or DIRECT."""
        with self._lock:
            cached = self._version.get(path)
            if version is not None and cached == version:
                self._readers[path] += 1
                return KEEP
            if version is None or self._readers[path]:
                return DIRECT
            self._version[path] = version
            self._readers[path] += 1
            return DROP

    def release(self, path: str) -> None:
        """A reader admitted with KEEP or DROP closed."""
        with self._lock:
            self._readers[path] -= 1
            if self._readers[path] <= 0:
                del self._readers[path]

    def moved(self, old: str, new: str) -> None:
        """``old`` was renamed to ``new``: its cached version and readers go with it."""
        with self._lock:
            version = self._version.pop(old, None)
            count = self._readers.pop(old, 0)
            self._version.pop(new, None)
            if version is not None:
                self._version[new] = version
            if count:
                self._readers[new] += count

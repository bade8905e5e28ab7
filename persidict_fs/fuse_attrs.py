"""FUSE operations on attributes and listings: getattr, readdir, statfs, utimens, chmod.

:class:`AttributeOps` is a mixin on :class:`~persidict_fs.fuse_state.MountState`:
it shows what ``_stat`` says (a file's own writer sees what it wrote) and
keeps the one attribute the stores keep, the modification time.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from typing import Any

from persidict_fs.fuse_cache import Stat, store_io
from persidict_fs.fuse_files import Handle, Reader, Writer
from persidict_fs.fuse_state import HIDDEN, MountState, fail

# libfuse passes "now" and "leave as is" in the nanoseconds of a zero time (utimensat's values)
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2


class AttributeOps(MountState):
    """Attributes, listings and the modification time."""

    def getattr(self, path: str | None, fh: Any = None) -> dict[str, Any]:
        h = self._handles.get(fh.fh) if fh is not None else None
        if isinstance(h, Writer):
            st: Stat | None = self._writer_stat(h)
        elif path is None:  # open, and its name removed
            st = Stat(False, 0, self._born) if h is None else self._open_stat(h)
        else:
            st = self._stat(path.strip("/"))
        if st is None:
            raise fail(errno.ENOENT)
        rel = path.strip("/") if path is not None else ""
        mtime_ns = int((self._dir_time(rel) if st.is_dir else st.mtime) * 1e9)
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
            name = p[len(prefix) :]
            # a file removed while open is gone from its folder, as on a disk
            if p.startswith(prefix) and "/" not in name and not name.startswith(HIDDEN):
                names.add(name)
        return [".", "..", *sorted(names)]

    def statfs(self, path: str) -> dict[str, int]:
        big = 1 << 40
        return dict(f_bsize=4096, f_frsize=4096, f_blocks=big, f_bfree=big, f_bavail=big,
                    f_files=big, f_ffree=big, f_namemax=255)  # fmt: skip

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
            return 0
        st = self._stat(rel)
        if st is None:
            raise fail(errno.ENOENT)
        if st.is_dir:
            with self._lock:  # kept by the mount while it runs: folders have none in a store
                self._dir_times[rel] = mtime
            return 0
        self._writable()
        with store_io("set the time of", rel):
            if self._set_mtime(rel, mtime, st.size):
                self.tree.remember(rel, Stat(False, st.size, mtime))
        return 0

    # metadata the stores do not keep: accepted and ignored, as on FAT or S3 mounts
    def chmod(self, path: str | None, mode: int) -> int:
        if path is None:
            return 0
        rel = path.strip("/")
        with self._lock:
            writer = self._writers.get(rel)
            if writer is not None:
                return 0
        if self._stat(rel) is None:
            raise fail(errno.ENOENT)
        return 0

    def chown(self, path: str | None, uid: int, gid: int) -> int:
        return self.chmod(path, 0)

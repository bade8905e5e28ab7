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

:class:`StoreOperations` is assembled from one mixin per job, all on the
shared state of ``fuse_state.MountState``: ``fuse_attrs`` (attributes,
listings, times), ``fuse_open`` (open files) and ``fuse_names`` (unlink,
rename, mkdir, rmdir), the last two over ``fuse_commits`` (storing a writer's
bytes, loading a stored value). This module adds the mount's lifecycle.
"""

from __future__ import annotations

import ctypes
import logging
from typing import Any

import mfusepy

from persidict_fs.fuse_attrs import AttributeOps
from persidict_fs.fuse_names import NameOps
from persidict_fs.fuse_open import OpenFileOps
from persidict_fs.fuse_state import JOURNALS, NameCheck

__all__ = ["JOURNALS", "NameCheck", "StoreOperations"]

log = logging.getLogger(__name__)

READ_AHEAD = 1 << 20  # the kernel's read size for page-cached reads (it caps it at 1 MiB)
ATOMIC_O_TRUNC = 1 << 3  # FUSE_CAP_ATOMIC_O_TRUNC: O_TRUNC comes with open, not as a truncate


class StoreOperations(AttributeOps, OpenFileOps, NameOps):
    """FUSE operations serving ``fs`` under ``root``; see the module docstring."""

    use_ns = True

    def init_with_config(self, conn: Any, config: Any) -> None:
        self._fuse = mfusepy._libfuse.fuse_get_context().contents.fuse
        self.invalidate.start(self._fuse)
        self.started = True
        if conn is not None:
            conn.max_readahead = READ_AHEAD  # fewer, larger reads of big values
            if conn.capable & ATOMIC_O_TRUNC:
                conn.want |= ATOMIC_O_TRUNC
            log.debug("kernel: capable %#x, want %#x", conn.capable, conn.want)

    def exit_loop(self) -> None:
        """Have libfuse end its loop once the requests under way are answered (any thread)."""
        self.invalidate.close()
        with self._lock:
            if self._fuse:
                mfusepy._libfuse.fuse_exit(ctypes.c_void_p(self._fuse))

    def destroy(self, path: str) -> None:
        self.invalidate.stop()
        with self._lock:
            self._fuse = None  # libfuse frees it next: exit_loop must not touch it

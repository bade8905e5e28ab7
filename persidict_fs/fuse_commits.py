"""The store side of open files: commit a spool, load a stored value, choose how to read.

:class:`Commits` is a mixin on :class:`~persidict_fs.fuse_state.MountState`
(the view ``fs``, the tree cache, the journal, ``_spool`` and ``_set_mtime``);
the operations on open files and on names both use it.
"""

from __future__ import annotations

import errno
import logging
import time

from persidict_fs.fuse_cache import Stat, store_io
from persidict_fs.fuse_files import COPY_BLOCK, Reader, Spool, Writer, copy_stream
from persidict_fs.fuse_state import MountState, fail

log = logging.getLogger(__name__)

WHOLE_READ_LIMIT = 32 << 20  # remote values up to this are read in one request, as one version


class Commits(MountState):
    """Committing writers' bytes to the store and loading stored values into open files."""

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
            if mtime is None:
                self.tree.kept_time(rel, size, None)
            elif not self._set_mtime(rel, mtime, size):
                mtime = None
        except Exception as exc:
            # the stored value is unchanged; the writer's close() reports EIO
            log.error("could not store %r: %s", "/" + rel, exc)
            raise fail(errno.EIO) from exc
        finally:
            if targets:
                self.journal.remove(targets)
        self.tree.remember(rel, Stat(False, size, time.time() if mtime is None else mtime))

    def _commit_writer(self, w: Writer) -> None:
        """Commit what ``w`` holds: its whole file, or its new bytes as an append."""
        self._commit(w.path, w.spool, w.mtime, append=w.appending)
        if w.appending:
            w.spool.truncate(0)  # stored: the next bytes go after them
        self.invalidate(w.path)

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

"""Folders and times through the view: empty folders that persist, modification times kept.

A mixin of :class:`persidict_fs.filesystem.PersiDictFileSystem`, over the
store's ``make_folder``/``remove_folder`` and ``set_mtime``.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import stat
import time
from typing import Any

from persidict.storage.base import MISSING, ByteStore, PreconditionFailed
from persidict_fs.view_mixin import ViewMixin

logger = logging.getLogger(__name__)

class FoldersAndTimes(ViewMixin):
    """``mkdir``, ``makedirs``, ``rmdir``, ``set_mtime``, ``touch``."""

    def _is_folder(self, folder: str) -> bool:
        """True if a folder is stored at ``folder``: it holds files, or persists empty."""
        if not folder:
            return True
        if self.store.is_local:  # a local folder outlives its last file; a symlink is none
            try:
                return stat.S_ISDIR(os.lstat(self.store.full_path(folder)).st_mode)  # type: ignore[attr-defined]
            except (FileNotFoundError, NotADirectoryError):
                return False  # absent, or below a file
        if not self.store.is_empty(folder):
            return True
        if type(self.store).make_folder is ByteStore.make_folder:
            return False  # a store without empty folders: a folder is where files are
        if getattr(self.store, "markers_count_as_content", False):
            return False  # is_empty saw the folder's own marker (S3's "name/" object)
        parent, _, name = folder.rpartition("/")
        return name in self.store.listdir(parent)[1]

    def set_mtime(self, path: str, mtime: float) -> None:
        """Set the modification time (seconds since the epoch) of the file at ``path``.

        The store keeps it (local: the file's own time; S3: the object's
        metadata) and ``info()["mtime"]`` reports it. io.UnsupportedOperation
        where a store keeps no times (memory://). Folders keep no times of
        their own: setting one does nothing.
        """
        path = self._strip_protocol(path)
        try:
            self.store.set_mtime(self._stored_file(path), mtime)
        except MISSING:
            if not self.isdir(path):
                raise FileNotFoundError(
                    errno.ENOENT, f"no file or directory {self._where(path)}", path
                ) from None

    def touch(self, path: str, truncate: bool = True, **kwargs: Any) -> None:
        """Make ``path`` an empty file, or (``truncate=False``) set its mtime to now."""
        path = self._strip_protocol(path)
        if truncate:
            self.pipe_file(path, b"")
            return
        try:
            self.set_mtime(path, time.time())
            return
        except FileNotFoundError:
            pass
        except io.UnsupportedOperation:
            if self._renew(path):
                return
        stored, key, data = self._target(path, b"")
        if self._store_one(stored, key, data, exclusive=True) is None:
            logger.debug("touch: %s was created meanwhile", path)

    def _renew(self, path: str) -> bool:
        """Rewrite a file as it is, for a new mtime, where the store cannot set times.

        False if there is no file at ``path``.
        """
        stored, key, _ = self._target(path, b"")
        if key is not None and self.dict.append_only:
            return self.store.exists(stored)  # a value this dict never rewrites
        try:
            data, etag = self.store.read_with_etag(stored)
        except MISSING:
            return False
        try:
            self._store_one(stored, key, data, etag=etag)
        except PreconditionFailed:
            logger.debug("touch: %s was rewritten meanwhile, so it is fresh", path)
        return True

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Make a folder that persists empty (local: a folder; S3: a ``name/`` marker).

        On stores without empty folders (memory://) a folder exists while it holds files.
        """
        path = self._strip_protocol(path)
        folder = self._paths.folder(path)  # ValueError naming a bad name
        if not path:
            return
        try:
            self.store.make_folder(folder)
        except io.UnsupportedOperation:
            pass  # folders come with their files there
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, f"a file is at {self._where(path)}", path) from None

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        path = self._strip_protocol(path)
        self._paths.folder(path)
        if not exist_ok and path and self.exists(path):
            raise FileExistsError(errno.EEXIST, f"{self._where(path)} exists", path)
        self.mkdir(path)

    def rmdir(self, path: str) -> None:
        """Remove an empty folder; OSError (ENOTEMPTY) naming it if it holds anything."""
        path = self._strip_protocol(path)
        try:
            folder = self._paths.folder(path)
        except ValueError as exc:
            raise FileNotFoundError(errno.ENOENT, str(exc), path) from None
        try:
            self.store.remove_folder(folder)
            return
        except io.UnsupportedOperation:
            empty = self.store.is_empty(folder)  # folders live only while they hold files
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY:
                raise
            empty = False
        if not empty:
            raise OSError(errno.ENOTEMPTY, f"directory {self._where(path)} is not empty", path)

"""Copies through the view, streamed: within it (``cp_file``) and to and from local disk.

A mixin of :class:`persidict_fs.filesystem.PersiDictFileSystem`: each file
is read from one stored version and written with one atomic store write.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO

from fsspec.callbacks import DEFAULT_CALLBACK
from fsspec.utils import isfilelike

from persidict.storage.base import MISSING
from persidict_fs.view_mixin import ViewMixin


class Copies(ViewMixin):
    """``cp_file``, ``get_file``, ``put_file``."""

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy one file (streamed), or make the folder ``path2`` if ``path1`` is one."""
        try:
            src = self.open_stored(path1)
        except MISSING:
            if self.isdir(path1):
                self.makedirs(path2, exist_ok=True)
                return
            raise
        with src:
            self.pipe_file(path2, lambda out: _copy(src, out, DEFAULT_CALLBACK))

    def get_file(
        self,
        rpath: str,
        lpath: Any = None,
        callback: Any = DEFAULT_CALLBACK,
        outfile: Any = None,
        **kwargs: Any,
    ) -> None:
        """Copy one stored file to local ``lpath``, streamed."""
        if outfile is None and isfilelike(lpath):
            outfile = lpath
        try:
            src = self.open_stored(rpath)
        except MISSING:
            if outfile is None and self.isdir(rpath):
                os.makedirs(lpath, exist_ok=True)
                return
            raise
        with src:
            if outfile is not None:
                _copy(src, outfile, callback)
                return
            os.makedirs(os.path.dirname(os.path.abspath(lpath)), exist_ok=True)
            with open(lpath, "wb") as f:
                _copy(src, f, callback)

    def put_file(
        self,
        lpath: Any,
        rpath: str,
        callback: Any = DEFAULT_CALLBACK,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        """Store local file ``lpath`` at ``rpath`` (one atomic write, streamed)."""
        if os.path.isdir(lpath):
            self.makedirs(rpath, exist_ok=True)
            return
        with open(lpath, "rb") as src:
            callback.set_size(os.fstat(src.fileno()).st_size)
            self.pipe_file(rpath, lambda out: _copy(src, out, callback), mode=mode)


def _copy(src: BinaryIO, dst: BinaryIO, callback: Any) -> None:
    while chunk := src.read(1 << 20):
        dst.write(chunk)
        callback.relative_update(len(chunk))

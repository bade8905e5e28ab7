"""A minimal fsspec view of one PersiDict's store, the seam the FUSE mount serves.

Paths are the stored relative paths (``Eliza/year.json``); directories are
implicit prefixes. Writes are validated as keys of the dict and as bytes of
its format, then stored atomically. ``persidict_fs.PersiDictFileSystem`` is
the full view; this is the small part of that contract the mount relies on.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from fsspec.spec import AbstractFileSystem

from persidict.dicts.base import PersiDict
from persidict.keys import normalize_key
from persidict.storage.base import Entry
from persidict.storage.local import LocalStore


class DictStoreFileSystem(AbstractFileSystem):
    """The stored bytes of ``dict`` as files, under their stored relative paths."""

    protocol = "persidict-store"
    cachable = False  # one instance per dict object, never shared through fsspec's cache

    def __init__(self, dict: PersiDict, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dict = dict
        self.store = dict.store

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return super()._strip_protocol(path).strip("/")

    def check_name(self, path: str, is_dir: bool = False) -> str | None:
        """Why ``path`` cannot be stored (a message), or None if it can."""
        path = self._strip_protocol(path)
        parts = path.split("/")
        ext = self.dict.layout.extension
        if not is_dir:
            if ext and not parts[-1].endswith(ext):
                return f"file names in this store end with {ext!r}"
            parts[-1] = parts[-1][: len(parts[-1]) - len(ext)]
        try:
            normalize_key(parts)
        except ValueError as exc:
            return str(exc)
        return None

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list:
        path = self._strip_protocol(path)
        files, dirs = self.store.listdir(path)
        if not files and not dirs:
            return [self.info(path)] if path else []  # a file, or FileNotFoundError
        base = f"{path}/" if path else ""
        out = [_file(e) for e in files if self.dict.layout.from_path(e.path) is not None]
        out += [{"name": base + d, "type": "directory", "size": 0} for d in dirs]
        return out if detail else [o["name"] for o in out]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        if not path:
            return {"name": "", "type": "directory", "size": 0}
        try:
            return _file(self.store.info(path))
        except (FileNotFoundError, IsADirectoryError):
            pass
        if not self.store.is_empty(path):
            return {"name": path, "type": "directory", "size": 0}
        raise FileNotFoundError(path)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kw) -> bytes:
        path = self._strip_protocol(path)
        if start or end is not None:
            return self.store.read_range(path, start or 0, end)
        return self.store.read(path)

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        problem = self.check_name(path)
        if problem:
            raise ValueError(problem)
        self.dict.format.validate(value, self.dict._where(path))
        self.store.write(path, value)

    def rm_file(self, path: str) -> None:
        self.store.delete(self._strip_protocol(path))

    def rmdir(self, path: str) -> None:
        """Remove the folder if empty; only a local folder has one to remove."""
        if isinstance(self.store, LocalStore):
            with contextlib.suppress(OSError):  # not empty, or already gone
                os.rmdir(self.store.full_path(self._strip_protocol(path)))

    def cat(self, path, recursive=False, on_error="raise", **kwargs: Any):
        if not isinstance(path, list):
            return super().cat(path, recursive=recursive, on_error=on_error, **kwargs)
        paths = [self._strip_protocol(p) for p in path]
        out = {}
        for p, r in zip(paths, self.store.read_many(paths), strict=True):
            if isinstance(r, BaseException):
                raise r
            out[p] = r
        return out

    def pipe(self, path, value=None, **kwargs: Any) -> None:
        items = path if isinstance(path, dict) else {path: value}
        items = {self._strip_protocol(p): v for p, v in items.items()}
        for p, v in items.items():
            problem = self.check_name(p)
            if problem:
                raise ValueError(problem)
            self.dict.format.validate(v, self.dict._where(p))
        for r in self.store.write_many(items):
            if isinstance(r, BaseException):
                raise r

    def rm(self, path, recursive=False, maxdepth=None) -> None:
        paths = path if isinstance(path, list) else [path]
        paths = [self._strip_protocol(p) for p in paths]
        for r in self.store.delete_many(paths):
            if isinstance(r, BaseException) and not isinstance(r, FileNotFoundError):
                raise r

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        path = self._strip_protocol(path)
        layout = self.dict.layout
        entries = {e.path: _file(e) for e in self.store.walk(path) if layout.from_path(e.path)}
        return entries if detail else sorted(entries)


def _file(e: Entry) -> dict[str, Any]:
    return {"name": e.path, "type": "file", "size": e.size, "mtime": e.mtime}

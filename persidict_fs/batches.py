"""Many files at once through the view: reads, ranges, writes and deletes as store batches.

A mixin of :class:`persidict_fs.filesystem.PersiDictFileSystem`: fsspec's
defaults loop over single-file calls; these run one concurrent batch of the
store (S3: many requests in flight on one event loop).
"""

from __future__ import annotations

import builtins
import errno
import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from persidict.keys import Key
from persidict.storage.base import MISSING
from persidict_fs import listing
from persidict_fs.view_mixin import ViewMixin


class Batches(ViewMixin):
    """``cat``, ``cat_ranges``, ``pipe``, ``rm`` of many paths, concurrently."""

    def cat(self, path: Any, recursive: bool = False, on_error: str = "raise", **kwargs: Any):
        """Bytes of many files at once: one concurrent batch of reads."""
        literal = isinstance(path, list)  # a list names files; a str may be a glob
        paths = self.expand_path(path, recursive=recursive, assume_literal=literal)
        if not (len(paths) > 1 or isinstance(path, list) or paths[0] != self._strip_protocol(path)):
            return self.cat_file(paths[0], **kwargs)
        if kwargs:  # ranges: one request each, as fsspec does them
            return super().cat(paths, on_error=on_error, **kwargs)  # type: ignore[misc]
        folders = {q for p in paths for q in listing.parents_below("", p)}
        files = [p for p in paths if p not in folders]
        stored: builtins.dict[str, str] = {}
        results: builtins.dict[str, bytes | BaseException] = {}
        for p in files:
            try:
                stored[p] = self._paths.file(p)
            except ValueError as exc:
                results[p] = FileNotFoundError(errno.ENOENT, str(exc), p)
        results.update(zip(stored, self.store.read_many(stored.values()), strict=True))
        out = {}
        for p in files:
            result = results[p]
            if isinstance(result, MISSING) and recursive and self.isdir(p):
                continue  # an empty folder found below a path: it has no bytes
            if isinstance(result, BaseException):
                if on_error == "raise":
                    raise result
                if on_error == "omit":
                    continue
            out[p] = result
        return out

    def cat_ranges(
        self,
        paths: list,
        starts: Any,
        ends: Any,
        max_gap: Any = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> list:
        """Byte ranges of files, concurrently, each fetching only its bytes.

        A file asked for once is one ranged read; the ranges of a file asked
        for several times come from one open file of one version of it.
        """
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        if not isinstance(starts, list):
            starts = [starts] * len(paths)
        if not isinstance(ends, list):
            ends = [ends] * len(paths)
        if len(starts) != len(paths) or len(ends) != len(paths):
            raise ValueError("paths, starts and ends must have the same length")
        by_file: dict[str, list[int]] = {}
        for i, p in enumerate(paths):
            by_file.setdefault(self._strip_protocol(p), []).append(i)
        out: list[Any] = [None] * len(paths)

        def read(path: str) -> None:
            where = by_file[path]
            try:
                if len(where) == 1:
                    out[where[0]] = self.cat_file(path, starts[where[0]], ends[where[0]])
                    return
                with self.open_stored(path) as f:
                    size = f.seek(0, os.SEEK_END)
                    for i in where:
                        start, end = _bounds(starts[i], ends[i], size)
                        f.seek(start)
                        out[i] = f.read(max(0, end - start))
            except Exception as exc:
                if on_error == "raise":
                    raise
                for i in where:
                    out[i] = exc

        for result in self._map(read, list(by_file)):
            if isinstance(result, BaseException):
                raise result
        return out

    def pipe(self, path: Any, value: Any = None, **kwargs: Any) -> None:
        """Store one file, or a ``{path: bytes}`` dict of many as one concurrent batch.

        Every name and every key's bytes are checked before anything is written.
        """
        if isinstance(path, str):
            self.pipe_file(path, value, **kwargs)
            return
        if not isinstance(path, dict):
            raise ValueError("path must be str or dict")
        mode = kwargs.get("mode", "overwrite")
        if mode not in ("overwrite", "create"):
            raise ValueError(f"mode must be 'overwrite' or 'create', not {mode!r}")
        exclusive = mode == "create"
        targets = {self._strip_protocol(p): v for p, v in path.items()}
        targets = {p: self._target(p, v) for p, v in targets.items()}
        plain = {s: d for s, key, d in targets.values() if key is None}
        keys = [(s, key, d) for s, key, d in targets.values() if key is not None]
        batch = self.store.create_many if exclusive else self.store.write_many
        results = dict(zip(plain, batch(plain), strict=True)) if plain else {}
        written = self._map(lambda t: self.dict.write_bytes(t[1], t[2], if_absent=exclusive), keys)
        results.update(zip((s for s, _, _ in keys), written, strict=True))
        for p, (stored, _, _) in targets.items():
            result = results[stored]
            if isinstance(result, BaseException):
                raise result
            if result is None and exclusive:
                raise FileExistsError(errno.EEXIST, f"{self._where(p)} exists", p)

    def _map(self, func: Callable[[Any], Any], items: list) -> list:
        """``func`` of each item concurrently; an item's exception is its result."""

        def call(item: Any) -> Any:
            try:
                return func(item)
            except Exception as exc:  # handed back per item, raised by the caller
                return exc

        if len(items) <= 1:
            return [call(i) for i in items]
        with ThreadPoolExecutor(min(self.store.max_workers, len(items))) as pool:
            return list(pool.map(call, items))

    def _delete(self, paths: list[str]) -> builtins.dict[str, BaseException | None]:
        """Delete files concurrently (keys through the dict); per path None or the error."""
        keys: dict[str, Key] = {}
        plain: dict[str, str] = {}
        results: dict[str, BaseException | None] = {}
        for p in paths:
            try:
                key = self._paths.key(p)
                if key is None:
                    plain[p] = self._paths.file(p)
                else:
                    keys[p] = key
            except ValueError as exc:  # no file can live there
                results[p] = FileNotFoundError(errno.ENOENT, str(exc), p)
        if keys:
            found = self.dict.discard_many(list(keys.values()))
            for p, there in zip(keys, found, strict=True):
                results[p] = None if there else FileNotFoundError(errno.ENOENT, "no file", p)
        results.update(zip(plain, self.store.delete_many(list(plain.values())), strict=True))
        return results

    def rm_file(self, path: str) -> None:
        path = self._strip_protocol(path)
        result = self._delete([path])[path]
        if isinstance(result, MISSING):
            raise FileNotFoundError(errno.ENOENT, f"no file {self._where(path)}", path)
        if result is not None:
            raise result

    _rm = rm_file

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete files (folders with ``recursive``); deletes run concurrently.

        A list names files literally; a str may be a glob.
        """
        paths = set(
            self.expand_path(
                path, recursive=recursive, maxdepth=maxdepth, assume_literal=isinstance(path, list)
            )
        )
        # a path that holds another is a directory: it goes with its files
        dirs = {q for p in paths for q in listing.parents_below("", p) if q in paths}
        for p, result in sorted(self._delete(sorted(paths - dirs)).items()):
            if isinstance(result, MISSING) and self.isdir(p):
                dirs.add(p)
            elif isinstance(result, MISSING):
                raise FileNotFoundError(errno.ENOENT, f"no file {self._where(p)}", p)
            elif result is not None:
                raise result
        if recursive:
            for d in sorted(dirs):
                if not any(p in dirs for p in listing.parents_below("", d)):
                    self._remove_tree(self._paths.folder(d))

    def _remove_tree(self, folder: str) -> None:
        """Remove ``folder`` and the empty folders below it (its files are gone)."""
        try:
            self.store.remove_folder(folder)
            return
        except io.UnsupportedOperation:
            return  # folders live only while they hold files
        except FileNotFoundError:
            return  # a folder only while it held files
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY:
                raise
        files, subs = self.store.listdir(folder)
        if files:
            raise OSError(errno.ENOTEMPTY, f"{folder!r} in {self.store.url} is not empty")
        for name in subs:
            self._remove_tree(f"{folder}/{name}" if folder else name)
        if folder:
            self.store.remove_folder(folder)


def _bounds(start: int | None, end: int | None, size: int) -> tuple[int, int]:
    """``[start:end]`` of a ``size``-byte file as absolute offsets, as slicing reads them."""
    return slice(start, end).indices(size)[:2]

"""PersiDictFileSystem: any PersiDict as an fsspec filesystem (protocol ``persidict``).

Directories are key prefixes, files are keys, file bytes are the stored
bytes. Paths are relative to the store root: ``Eliza/year.json``.

>>> import fsspec
>>> fs = fsspec.filesystem("persidict", fo="memory://demo/view", serialization_format="json")
>>> fs.pipe_file("Eliza/year.json", b"1965")
>>> fs.ls("Eliza", detail=False)
['Eliza/year.json']
>>> fsspec.open("persidict://Eliza/year.json::memory://demo/view").open().read()
b'1965'

Which format checks a write:
- ``dict=`` or ``serialization_format=`` given: that format. Files are its
  keys only: a path without its extension is a ValueError, and stored
  files of other extensions are not shown.
- neither (the default): every stored file is shown under its own name,
  and a write is checked by the format its extension names where that
  check is cheap (``.json`` must parse, ``.txt`` be UTF-8, ``.pkl`` be
  well-formed pickle opcodes, never run); other files are raw bytes. So a
  folder of mixed extensions reads and writes as a user expects.

Costs on S3: ``open(..., "rb")`` fetches the whole value in one GET (use
``cat_file(path, start, end)`` for part of a big one: one ranged GET);
``ls``/``isdir`` one LIST; ``info``/``isfile`` one HEAD; ``find``, ``walk``
and ``glob`` one LIST per 1000 files; a write one PUT on close.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import posixpath
from datetime import datetime, timezone
from typing import Any, BinaryIO

from fsspec.callbacks import DEFAULT_CALLBACK
from fsspec.spec import AbstractFileSystem
from fsspec.utils import isfilelike

from persidict.dicts.base import PersiDict
from persidict.dicts.url import open_dict
from persidict.formats import Format, format_names, get_format
from persidict.storage.base import Entry, PreconditionFailed, payload_bytes
from persidict_fs import listing
from persidict_fs.files import StagedFile, StoredFile
from persidict_fs.paths import ViewPaths

logger = logging.getLogger(__name__)

# Options that fsspec itself consumes; the rest go to the inner store.
_FSSPEC_OPTIONS = {
    "use_listings_cache",
    "listings_expiry_time",
    "max_paths",
    "asynchronous",
    "loop",
}


class PersiDictFileSystem(AbstractFileSystem):
    """An fsspec filesystem over the keys of a PersiDict.

    Args:
        fo: the store's root URL (``s3://bucket/store``, ``/data/store``,
            ``memory://x``); in a chained URL, fsspec passes the inner path.
        dict: a PersiDict already in hand, instead of ``fo``.
        target_protocol, target_options: the inner filesystem's protocol and
            options (fsspec's convention for chained URLs).
        serialization_format: the store's format; None shows every stored
            file and checks writes by extension (see the module docstring).
        storage_options: passed to the store too (``endpoint_url``,
            ``digest_len``, ...).
    """

    protocol = "persidict"
    root_marker = ""

    def __init__(
        self,
        fo: str | None = None,
        *,
        dict: PersiDict | None = None,  # shadows the builtin: the name the issue asks for
        target_protocol: str | None = None,
        target_options: dict[str, Any] | None = None,
        serialization_format: str | Format | None = None,
        **storage_options: Any,
    ) -> None:
        super().__init__(**storage_options)
        store_options = {k: v for k, v in storage_options.items() if k not in _FSSPEC_OPTIONS}
        store_options.update(target_options or {})
        if dict is not None:
            if fo is not None or serialization_format is not None:
                raise TypeError("give dict= alone, or fo= (and a format), not both")
            self.dict = dict
        elif fo is None:
            raise TypeError("PersiDictFileSystem needs fo= (the store's URL) or dict=")
        else:
            url = fo if "://" in fo or not target_protocol else f"{target_protocol}://{fo}"
            if serialization_format is None:
                store_options.setdefault("digest_len", 0)  # the raw view shows names as stored
            self.dict = open_dict(url, serialization_format or "bytes", **store_options)
        self.store = self.dict.store
        self._infer_format = dict is None and serialization_format is None
        # A local folder outlives its last file; elsewhere a folder is only a prefix.
        self._folders_outlive_files = self.store.is_local
        self._paths = ViewPaths(self.dict.layout, f"persidict view of {self.store.url}")

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return super()._strip_protocol(path).split("::")[0].strip("/")

    # mapping and checking
    def _format_for(self, path: str) -> Format | None:
        if not self._infer_format:
            return self.dict.format
        return _cheap_formats().get(posixpath.splitext(path)[1])

    def _streams_unchecked(self, path: str) -> bool:
        """True if bytes written at ``path`` are stored unchecked (raw bytes, no base class)."""
        fmt = self._format_for(path)
        raw = fmt is None or fmt.name == "bytes"
        return raw and self.dict.base_class_for_values is None

    def _where(self, path: str) -> str:
        return f"{path!r} in {self.store.url}"

    def _stored_file(self, path: str) -> str:
        """Stored path for reading; a path no key can have is simply not there."""
        try:
            return self._paths.file(path)
        except ValueError as exc:
            raise FileNotFoundError(errno.ENOENT, str(exc), path) from None

    def _checked(self, path: str, data: bytes) -> str:
        """Stored path for writing ``data`` at ``path``, after every check passed."""
        stored = self._paths.file(path)
        fmt = self._format_for(path)
        if fmt is not None:
            fmt.validate(data, self._where(path))
        return stored

    def _file_info(self, path: str, entry: Entry) -> dict[str, Any]:
        return {
            "name": path,
            "size": entry.size,
            "type": "file",
            "mtime": entry.mtime,
            "ETag": entry.etag,
        }

    # reading
    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        if not path:
            return listing.dir_info("")
        try:
            stored = self._paths.file(path)
        except ValueError:
            stored = None  # cannot be a file; may still be a directory
        if stored is not None:
            try:
                return self._file_info(path, self.store.info(stored))
            except (FileNotFoundError, IsADirectoryError):
                pass
        try:
            folder = self._paths.folder(path)
        except ValueError as exc:
            raise FileNotFoundError(errno.ENOENT, str(exc), path) from None
        if not self.store.is_empty(folder):
            return listing.dir_info(path)
        raise FileNotFoundError(errno.ENOENT, f"no file or directory {self._where(path)}", path)

    def isdir(self, path: str) -> bool:
        """True if some file lies below ``path`` (one listing request, no HEAD)."""
        path = self._strip_protocol(path)
        try:
            folder = self._paths.folder(path)
        except ValueError:
            return False
        return not path or not self.store.is_empty(folder)

    def isfile(self, path: str) -> bool:
        try:
            stored = self._paths.file(self._strip_protocol(path))
        except ValueError:
            return False
        return self.store.exists(stored)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list:
        path = self._strip_protocol(path)
        try:
            folder = self._paths.folder(path)
        except ValueError as exc:
            raise FileNotFoundError(errno.ENOENT, str(exc), path) from None
        files, dirs = self.store.listdir(folder)
        if self._folders_outlive_files:
            dirs = [n for n in dirs if not self.store.is_empty(f"{folder}/{n}" if folder else n)]
        out = [listing.dir_info(p) for p in (self._paths.view_dir(path, n) for n in dirs) if p]
        for entry in files:
            name = self._paths.view_file(entry.path)
            if name is not None:
                out.append(self._file_info(name, entry))
        if not out and path:
            info = self.info(path)  # FileNotFoundError if nothing is there
            out = [info] if info["type"] == "file" else []
        out.sort(key=lambda i: i["name"])
        return out if detail else [i["name"] for i in out]

    def _files_under(self, path: str) -> dict[str, dict[str, Any]]:
        """Every file below directory ``path``, from one recursive store listing."""
        try:
            folder = self._paths.folder(path)
        except ValueError:
            return {}
        out = {}
        for entry in self.store.walk(folder):
            name = self._paths.view_file(entry.path)
            if name is not None:
                out[name] = self._file_info(name, entry)
        return out

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Files below ``path`` (and directories if ``withdirs``), from one listing."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        path = self._strip_protocol(path)
        if maxdepth == 1:  # one level: a delimited listing beats walking everything
            try:
                found = {i["name"]: i for i in self.ls(path, detail=True)}
            except FileNotFoundError:
                found = {}
        else:
            found = listing.select(self._files_under(path), path, maxdepth, withdirs)
        is_file = found.get(path, {}).get("type") == "file"
        if not found:
            try:
                info = self.info(path)
            except FileNotFoundError:
                info = {}
            if info.get("type") == "file":
                found = {path: info}
                is_file = True
        elif withdirs and path and not is_file:
            found[path] = listing.dir_info(path)
        if not withdirs:
            found = {n: i for n, i in found.items() if i["type"] == "file"}
        names = sorted(found)
        return {n: found[n] for n in names} if detail else names

    def walk(
        self,
        path: str,
        maxdepth: int | None = None,
        topdown: bool = True,
        on_error: str = "omit",
        **kwargs: Any,
    ) -> Any:
        """Like ``os.walk``, from one recursive store listing."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        path = self._strip_protocol(path)
        detail = kwargs.pop("detail", False)
        folders = listing.tree(self._files_under(path), path)
        if len(folders) == 1 and not folders[path][1]:
            try:
                info = self.info(path)
            except FileNotFoundError as exc:
                if on_error == "raise":
                    raise
                if callable(on_error):
                    on_error(exc)
                return
            if info["type"] == "file":
                folders[path][1][""] = info
        yield from listing.walk_tree(folders, path, maxdepth, topdown, detail)

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        """Bytes of the file at ``path``, or its range ``[start:end]`` (one request)."""
        stored = self._stored_file(self._strip_protocol(path))
        if not start and end is None:
            return self.store.read(stored)
        start = start or 0
        if start < 0 or (end is not None and end < 0):
            size = self.store.info(stored).size
            start = max(0, size + start) if start < 0 else start
            end = max(0, size + end) if end is not None and end < 0 else end
        return self.store.read_range(stored, start, end)

    def open_stored(self, path: str) -> BinaryIO:
        """A readable, seekable file of one version of the stored bytes at ``path``.

        The caller closes it. Local: the stored file itself, open (a write
        makes a new file, so it reads one version to its end); S3: ranged
        reads pinned to the version's ETag. The FUSE mount reads through it.
        """
        return self.store.open_read(self._stored_file(self._strip_protocol(path)))

    def set_mtime(self, path: str, mtime: float) -> None:
        """Set the modification time (seconds since the epoch) of the file at ``path``."""
        self.store.set_mtime(self._stored_file(self._strip_protocol(path)), mtime)

    def head(self, path: str, size: int = 1024) -> bytes:
        return self.cat_file(path, 0, size)

    def tail(self, path: str, size: int = 1024) -> bytes:
        return self.cat_file(path, -size)

    def modified(self, path: str) -> datetime:
        return datetime.fromtimestamp(self.info(path)["mtime"], tz=timezone.utc)

    def ukey(self, path: str) -> str:
        return self.info(path).get("ETag") or super().ukey(path)

    # writing
    def pipe_file(self, path: str, value: Any, mode: str = "overwrite", **kwargs: Any) -> None:
        """Store ``value`` at ``path`` atomically; ``mode="create"`` only if absent."""
        path = self._strip_protocol(path)
        if callable(value) and self._streams_unchecked(path):
            data: Any = value  # a callable writing the bytes: streamed, nothing to check
            stored = self._paths.file(path)
        else:
            data = bytes(payload_bytes(value))
            stored = self._checked(path, data)
        if mode == "create":
            if self.dict.write_stored(stored, data, exclusive=True) is None:
                raise FileExistsError(errno.EEXIST, f"{self._where(path)} exists", path)
        elif mode == "overwrite":
            self.dict.write_stored(stored, data)
        else:
            raise ValueError(f"pipe_file mode must be 'overwrite' or 'create', not {mode!r}")

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        path = self._strip_protocol(path)
        if mode == "rb":
            return StoredFile(self, path, self.cat_file(path))
        if mode not in ("wb", "xb", "ab"):
            raise ValueError(f"mode {mode!r} is not supported for {self._where(path)}")
        stored = self._paths.file(path)  # a bad path fails now, not on close
        initial, etag = b"", None
        if mode == "xb" and self.store.exists(stored):
            raise FileExistsError(errno.EEXIST, f"{self._where(path)} exists", path)
        if mode == "ab":
            with contextlib.suppress(FileNotFoundError):  # appending to nothing
                initial, etag = self.store.read_with_etag(stored)

        def commit(data: bytes) -> None:
            if mode == "wb":
                self.pipe_file(path, data)
            elif etag is None:  # xb, or ab on a new file: exclusive
                self.pipe_file(path, data, mode="create")
            else:
                self._append_commit(path, data, etag)

        return StagedFile(self, path, mode, commit, initial, autocommit)

    def _append_commit(self, path: str, data: bytes, etag: str) -> None:
        stored = self._checked(path, data)
        try:
            self.dict.write_stored(stored, data, etag=etag)
        except PreconditionFailed:
            raise OSError(
                errno.EAGAIN,
                f"{self._where(path)} changed while open for appending; nothing written",
                path,
            ) from None

    def touch(self, path: str, truncate: bool = True, **kwargs: Any) -> None:
        """Make ``path`` an empty file, or (``truncate=False``) renew its mtime."""
        path = self._strip_protocol(path)
        if truncate:
            self.pipe_file(path, b"")
            return
        stored = self._paths.file(path)
        try:
            data, etag = self.store.read_with_etag(stored)
        except FileNotFoundError:
            if self.dict.write_stored(self._checked(path, b""), b"", exclusive=True) is None:
                logger.debug("touch: %s was created meanwhile", path)
            return
        if self.dict.append_only:
            return  # renewing the mtime would rewrite a value this dict never rewrites
        try:
            self.dict.write_stored(stored, data, etag=etag)
        except PreconditionFailed:
            logger.debug("touch: %s was rewritten meanwhile, so it is fresh", path)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        try:
            data = self.cat_file(path1)
        except (FileNotFoundError, IsADirectoryError):
            if self.isdir(path1):
                return  # directories are implicit: they come with their files
            raise
        self.pipe_file(path2, data)

    def rm_file(self, path: str) -> None:
        stored = self._stored_file(self._strip_protocol(path))
        for result in self.dict.delete_stored([stored]):
            if result is not None:
                raise result

    _rm = rm_file

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete files (directories with ``recursive``); deletes run concurrently."""
        paths = set(self.expand_path(path, recursive=recursive, maxdepth=maxdepth))
        # a path that holds another is a directory: it goes with its files
        dirs = {q for p in paths for q in listing.parents_below("", p) if q in paths}
        candidates, missing = {}, []
        for p in sorted(paths - dirs):
            try:
                candidates[p] = self._paths.file(p)
            except ValueError:
                missing.append(p)  # no file can live there: a directory, or nothing
        results = self.dict.delete_stored(list(candidates.values()))
        for p, result in zip(candidates, results, strict=True):
            if isinstance(result, (FileNotFoundError, IsADirectoryError)):
                missing.append(p)
            elif isinstance(result, BaseException):
                raise result
        for p in missing:
            if not self.isdir(p):
                raise FileNotFoundError(errno.ENOENT, f"no file {self._where(p)}", p)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Check the name only: directories exist while they hold files."""
        self._paths.folder(self._strip_protocol(path))

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        path = self._strip_protocol(path)
        self._paths.folder(path)
        if not exist_ok and path and self.exists(path):
            raise FileExistsError(errno.EEXIST, f"{self._where(path)} exists", path)

    def rmdir(self, path: str) -> None:
        """Succeed on an empty (that is, absent) directory; refuse a full one."""
        path = self._strip_protocol(path)
        if not self.store.is_empty(self._paths.folder(path)):
            raise OSError(errno.ENOTEMPTY, f"directory {self._where(path)} is not empty", path)

    # local disk
    def get_file(
        self,
        rpath: str,
        lpath: Any = None,
        callback: Any = DEFAULT_CALLBACK,
        outfile: Any = None,
        **kwargs: Any,
    ) -> None:
        """Copy one stored file to local ``lpath`` (one read)."""
        if outfile is None and isfilelike(lpath):
            outfile = lpath
        try:
            data = self.cat_file(rpath)
        except (FileNotFoundError, IsADirectoryError):
            if outfile is None and self.isdir(rpath):
                os.makedirs(lpath, exist_ok=True)
                return
            raise
        callback.set_size(len(data))
        if outfile is not None:
            outfile.write(data)
        else:
            os.makedirs(os.path.dirname(os.path.abspath(lpath)), exist_ok=True)
            with open(lpath, "wb") as f:
                f.write(data)
        callback.relative_update(len(data))

    def put_file(
        self,
        lpath: Any,
        rpath: str,
        callback: Any = DEFAULT_CALLBACK,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        """Store local file ``lpath`` at ``rpath`` (one atomic write)."""
        if os.path.isdir(lpath):
            self.makedirs(rpath, exist_ok=True)
            return
        with open(lpath, "rb") as f:
            data = f.read()
        callback.set_size(len(data))
        self.pipe_file(rpath, data, mode=mode)
        callback.relative_update(len(data))


def _cheap_formats() -> dict[str, Format]:
    """Registered formats with a cheap byte check, by extension."""
    out = {}
    for name in format_names():
        fmt = get_format(name)
        if fmt.extension and fmt.check_bytes is not None:
            out[fmt.extension] = fmt
    return out

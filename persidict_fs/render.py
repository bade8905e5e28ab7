"""A readable view of any store: every value shown as a read-only JSON file.

``rendered(d)`` is a dict whose store shows key ``("Eliza", "year")`` of a
pkl (or npy, parquet, ...) store as ``Eliza/year.json`` holding the value's
JSON: numbers, strings, lists, dicts, arrays (as nested lists) and frames (as
``{"columns": [...], "data": [[...], ...]}``), so that a person can browse
and ``grep`` a pickle store through the view or the mount. Values are decoded
by the dict handed in, so its format decides the trust (``decoding_format``:
a pickle naming code is not run unless the dict trusts its store). A value
that cannot be shown (refused, corrupt, or no JSON form) is a file holding one
line, a JSON string that says why. Nothing is ever written back: every write
is a PermissionError (EROFS through the mount).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import errno
import json
import math
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any

from persidict.dicts.base import PersiDict
from persidict.storage.base import ByteStore, Entry, Payload

RENDERED_EXTENSION = ".json"
MAX_CACHED = 4096
"""Rendered values kept (by path and stored ETag), so that a listing's sizes and reads agree."""


class CannotRender(ValueError):
    """The value has no JSON form here."""


def to_plain(value: Any, depth: int = 0) -> Any:
    """``value`` as builtins that ``json.dumps`` writes: lists, dicts, str, numbers, None."""
    if depth > 100:
        raise CannotRender("nested more than 100 deep")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN or inf
    if isinstance(value, dict):
        return {_label(k): to_plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_plain(v, depth + 1) for v in value), key=repr)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (decimal.Decimal, uuid.UUID, PurePath, complex)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    return _library_value(value, depth)


def _library_value(value: Any, depth: int) -> Any:
    """numpy, pandas and polars values, recognised without importing those libraries."""
    module = type(value).__module__.split(".")[0]
    name = type(value).__name__
    if module == "numpy":
        if hasattr(value, "tolist"):  # arrays and scalars
            return to_plain(value.tolist(), depth + 1)
    elif module == "pandas":
        if name == "DataFrame":
            return json.loads(value.to_json(orient="split", date_format="iso"))
        if name == "Series":
            return json.loads(value.to_json(orient="split", date_format="iso"))
        if hasattr(value, "isoformat"):  # Timestamp
            return value.isoformat()
        if hasattr(value, "tolist"):  # Index, arrays
            return to_plain(value.tolist(), depth + 1)
    elif module == "polars":
        if name == "DataFrame":
            return {"columns": value.columns, "data": to_plain(value.rows(), depth + 1)}
        if name == "Series":
            return to_plain(value.to_list(), depth + 1)
    raise CannotRender(f"a {type(value).__module__}.{name} has no JSON form here")


def _label(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(to_plain(key), ensure_ascii=False)


def render(value: Any) -> bytes:
    """The JSON text of ``value`` (indented, UTF-8, ending in a newline); CannotRender if none."""
    text = json.dumps(to_plain(value), indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode()


def placeholder(why: str) -> bytes:
    """The one line a file holds when its value cannot be shown: a JSON string saying why."""
    line = json.dumps(f"<not rendered: {' '.join(why.split())}>", ensure_ascii=False)
    return (line + "\n").encode()


class RenderedStore(ByteStore):
    """A read-only store showing each key of ``d`` as its value's JSON (see the module)."""

    def __init__(self, d: PersiDict) -> None:
        if not d.format.extension:
            raise ValueError(f"{d.store.url} stores raw bytes: its files are already its values")
        self.dict = d
        self.url = d.store.url
        self.max_workers = d.store.max_workers
        self._ext = d.format.extension
        self._cache: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def __reduce__(self):
        return (type(self), (self.dict,))

    # paths: the same folders, another extension; only the dict's keys are shown
    def _inner(self, path: str) -> str:
        if not path.endswith(RENDERED_EXTENSION):
            raise FileNotFoundError(errno.ENOENT, f"no rendered value at {self.url}/{path}")
        inner = path[: -len(RENDERED_EXTENSION)] + self._ext
        if self.dict.layout.from_path(inner) is None:
            raise FileNotFoundError(errno.ENOENT, f"no rendered value at {self.url}/{path}")
        return inner

    def _outer(self, path: str) -> str | None:
        if self.dict.layout.from_path(path) is None:
            return None  # a plain file or junk: not a value to show
        return path[: -len(self._ext)] + RENDERED_EXTENSION

    def _rendered(self, inner: str, data: bytes, etag: str) -> bytes:
        with self._lock:
            hit = self._cache.get(inner)
            if hit is not None and hit[0] == etag:
                self._cache.move_to_end(inner)
                return hit[1]
        try:
            text = render(self.dict.format.decode(data, f"{self.url}/{inner}"))
        except (ValueError, TypeError, ImportError, RecursionError) as exc:
            text = placeholder(str(exc) or type(exc).__name__)
        with self._lock:
            self._cache[inner] = (etag, text)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)
        return text

    def _entry(self, inner: Entry, outer: str) -> Entry:
        with self._lock:
            hit = self._cache.get(inner.path)
        if hit is None or hit[0] != inner.etag:
            data, etag = self.dict.store.read_with_etag(inner.path)
            text = self._rendered(inner.path, data, etag)
        else:
            text = hit[1]
        return Entry(outer, len(text), inner.mtime, inner.etag)

    # reading
    def read(self, path: str) -> bytes:
        return self.read_with_etag(path)[0]

    def read_with_etag(self, path: str) -> tuple[bytes, str]:
        inner = self._inner(path)
        data, etag = self.dict.store.read_with_etag(inner)
        return self._rendered(inner, data, etag), etag

    def info(self, path: str) -> Entry:
        return self._entry(self.dict.store.info(self._inner(path)), path)

    def walk(self, prefix: str = "") -> Iterator[Entry]:
        for entry in self.dict.store.walk(prefix):
            outer = self._outer(entry.path)
            if outer is not None:
                yield self._entry(entry, outer)

    def listdir(self, prefix: str = "") -> tuple[list[Entry], list[str]]:
        files, folders = self.dict.store.listdir(prefix)
        shown = [(e, self._outer(e.path)) for e in files]
        return [self._entry(e, outer) for e, outer in shown if outer is not None], folders

    # nothing is written back
    def _refuse(self, path: str) -> Any:
        raise PermissionError(errno.EROFS, f"{self.url}/{path} is a rendered view: read-only")

    def write(self, path: str, data: Payload) -> str:
        return self._refuse(path)

    def create(self, path: str, data: Payload) -> str | None:
        return self._refuse(path)

    def write_if(self, path: str, data: Payload, etag: str) -> str:
        return self._refuse(path)

    def delete(self, path: str) -> None:
        self._refuse(path)

    def delete_if(self, path: str, etag: str) -> None:
        self._refuse(path)


def rendered_as(d: PersiDict, render: str) -> PersiDict:
    """``d`` shown through the renderer called ``render`` (only ``json`` so far)."""
    if render != "json":
        raise ValueError(f"unknown render {render!r}: only 'json'")
    return rendered(d)


def rendered(d: PersiDict) -> PersiDict:
    """A read-only json dict showing every value of ``d`` as JSON (``d``'s format decodes).

    >>> from persidict import open_dict
    >>> from persidict.formats import decoding_format
    >>> d = open_dict("memory://render-demo", decoding_format("pkl", trusted=False))
    >>> d["Eliza", "year"] = 1965
    >>> rendered(d).store.read("Eliza/year.json")
    b'1965\\n'
    """
    return PersiDict(RenderedStore(d), "json", digest_len=d.layout.digest_len)

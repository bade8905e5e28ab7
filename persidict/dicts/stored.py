"""Where a PersiDict's items live in its store: key tuples <-> paths, values <-> bytes.

The first layer of a PersiDict (then :mod:`persidict.dicts.commits`, the
write path, and :mod:`persidict.dicts.base`, the public API): it maps keys to
store paths and back, encodes and decodes values by the dict's format, and
lists the keys, folder by folder, as the store holds them.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from dataclasses import replace
from itertools import chain
from typing import TYPE_CHECKING, Any

from persidict.dicts.values import check_class, check_storable
from persidict.formats import Format, get_format
from persidict.keys import Key, KeyLayout, KeyLike, is_valid_part
from persidict.safe_str_tuple import NonEmptySafeStrTuple, SafeStrTuple
from persidict.storage.base import ByteStore, Payload

if TYPE_CHECKING:
    from typing_extensions import Self

STREAM_MIN = 1 << 20
"""Values this big (by ``sys.getsizeof``, or stored size) stream to and from the store,
where the format streams; smaller ones go as bytes, which is faster for them."""


def resolve_format(name: str | Format, base_class_for_values: type | None) -> Format:
    """The format called ``name``; for str-only dicts, any safe name is a text format.

    ``FileDirDict(serialization_format="csv", base_class_for_values=str)``
    stores strings in ``*.csv`` files, as the reference library does.
    """
    try:
        return get_format(name)
    except ValueError:
        if not (
            isinstance(base_class_for_values, type)
            and issubclass(base_class_for_values, str)
            and isinstance(name, str)
            and is_valid_part(name)
        ):
            raise
        return replace(get_format("txt"), name=name, extension=f".{name}")


# Formats that store one built-in type only: a base class outside it could never be stored.
_ONLY_STORES: dict[str, tuple[type, ...]] = {"txt": (str,), "bytes": (bytes, bytearray)}


def refuse_unstorable_base_class(fmt: Format, base_class_for_values: type | None) -> None:
    """ValueError at construction when format ``fmt`` cannot store ``base_class_for_values``.

    ``FileDirDict(base_class_for_values=int, serialization_format="txt")`` could
    never store a value; persidict 0.309.0 refuses it when made, and so do we.
    """
    stores = _ONLY_STORES.get(fmt.name)
    if base_class_for_values is None or stores is None:
        return
    if not issubclass(base_class_for_values, stores):
        raise ValueError(
            f"format {fmt.name!r} stores {' or '.join(t.__name__ for t in stores)} values only, "
            f"so base_class_for_values={base_class_for_values.__name__} could never be stored: "
            "use 'pkl' or 'json'"
        )


class StoredItems:
    """A dict's keys and values as its store holds them (arguments: see PersiDict)."""

    def __init__(
        self,
        store: ByteStore,
        serialization_format: str | Format = "pkl",
        *,
        digest_len: int = 0,
        append_only: bool = False,
        base_class_for_values: type | None = None,
        prefix: KeyLike = (),
    ) -> None:
        if base_class_for_values is not None and not isinstance(base_class_for_values, type):
            raise TypeError(
                f"base_class_for_values must be a class or None, not {base_class_for_values!r}"
            )
        self.store = store
        self.format = resolve_format(serialization_format, base_class_for_values)
        refuse_unstorable_base_class(self.format, base_class_for_values)
        self.layout = KeyLayout(self.format.extension, digest_len)
        self.append_only = bool(append_only)
        self.base_class_for_values = base_class_for_values
        self._prefix: Key = tuple(SafeStrTuple(prefix))

    @property
    def serialization_format(self) -> str:
        return self.format.name

    @property
    def digest_len(self) -> int:
        return self.layout.digest_len

    @property
    def prefix(self) -> Key:
        """The key parts this dict sees the store from (``()``: the whole store)."""
        return self._prefix

    @property
    def prefix_path(self) -> str:
        """The store folder holding this dict's keys (``''``: the store's root)."""
        return self.layout.to_dir(self._prefix) if self._prefix else ""

    # keys <-> paths
    def _path(self, key: KeyLike) -> str:
        path = self.layout.path_of(key)  # validated, cached
        return f"{self.prefix_path}/{path}" if self._prefix else path

    def _key_of(self, path: str) -> NonEmptySafeStrTuple | None:
        """The key stored at store path ``path``, or None if it holds none of ours."""
        root = self.prefix_path
        if root:
            if not path.startswith(root + "/"):
                return None
            path = path[len(root) + 1 :]
        key = self.layout.from_path(path)
        return None if key is None else NonEmptySafeStrTuple.from_valid_parts(key)

    def _where(self, path: str) -> str:
        return f"{self.store.url.rstrip('/')}/{path}"

    # values <-> bytes (the rules of values: persidict.dicts.values)
    def _encode(self, value: Any, key: Any) -> bytes:
        """The bytes of ``value``, checked (batches encode every value before writing)."""
        check_storable(value, key, self.base_class_for_values)
        return self.format.encode(value)

    def _payload(self, value: Any, key: Any) -> Payload:
        """What a single write of ``value`` stores: a big value streams if the format can.

        Streaming writes the encoding straight into the store's file (no copy
        of the bytes in memory); small values are encoded first, which is
        faster for them and lets a cache keep the bytes.
        """
        check_storable(value, key, self.base_class_for_values)
        fmt = self.format
        if fmt.streams and sys.getsizeof(value) >= STREAM_MIN:
            return lambda f: fmt.dump(value, f)
        return fmt.encode(value)

    def _decode(self, data: bytes, path: str) -> Any:
        where = self._where(path)
        return check_class(self.format.decode(data, where), self.base_class_for_values, where)

    def _load(self, path: str) -> Any:
        """The value stored at ``path``, a big one streamed if the format can; MISSING if absent."""
        if not self.format.streams:
            return self._decode(self.store.read(path), path)
        data = self.store.read_or_open(path, STREAM_MIN)
        if isinstance(data, (bytes, bytearray, memoryview)):
            return self._decode(data, path)
        where = self._where(path)
        with data:
            return check_class(self.format.load(data, where), self.base_class_for_values, where)

    # listing: keys stream folder by folder
    def __iter__(self) -> Iterator[NonEmptySafeStrTuple]:
        # Streamed folder by folder; within a folder the keys are built by
        # C-level iterators, with no Python frame per key.
        return chain.from_iterable(self._keys_by_folder())

    def _keys_by_folder(self) -> Iterator[Iterator[NonEmptySafeStrTuple]]:
        split, cut = self.layout.split_folder, len(self._prefix)
        for folder, names in self.store.iter_folders(self.prefix_path):
            found = split(folder, names)
            if found is not None:
                yield NonEmptySafeStrTuple.many_from_valid(found[0][cut:], found[1])

    def __len__(self) -> int:
        count_in = self.layout.count_in
        folders = self.store.iter_folders(self.prefix_path)
        return sum(count_in(folder, names) for folder, names in folders)

    def __bool__(self) -> bool:
        return next(iter(self), None) is not None

    # sub-dicts
    def get_subdict(self, prefix_key: KeyLike) -> Self:
        """The same store seen from ``prefix_key``: its keys drop that prefix.

        Nothing is created; an absent prefix gives an empty sub-dict, an
        empty prefix the whole dict.
        """
        sub = copy.copy(self)
        sub._prefix = self._prefix + tuple(SafeStrTuple(prefix_key))
        return sub

    def subdicts(self) -> dict[str, Self]:
        """``{first key part: sub-dict}`` for every first-level folder holding keys."""
        root = self.prefix_path
        result = {}
        for name in self.store.listdir(root)[1]:
            part = self.layout.from_dir_name(name)
            folder = f"{root}/{name}" if root else name
            if part is not None and not self.store.is_empty(folder):
                result[part] = self.get_subdict(part)
        return result


__all__ = ["STREAM_MIN", "StoredItems", "resolve_format"]

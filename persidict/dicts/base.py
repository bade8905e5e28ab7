"""PersiDict: a MutableMapping of key tuples to values, over any byte store.

The dict logic is written once here (plus the timestamps and conditional
mixins); a backend differs only in its store (``persidict.storage``).
Each key is one file, each value one format. Every change of a stored value
goes through :meth:`PersiDict._commit` or :meth:`PersiDict._delete` (and their
batch forms), where the dict's rules live: append-only, the write-once hook,
``base_class_for_values`` and the jokers.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import replace
from itertools import chain
from typing import TYPE_CHECKING, Any, Generic

from persidict.conditions import ITEM_NOT_AVAILABLE, ValueType
from persidict.dicts.conditional import ConditionalMixin
from persidict.dicts.timestamps import TimestampsMixin
from persidict.dicts.values import check_class, check_incoming, check_storable
from persidict.errors import KeyClashError, MutationPolicyError, OutcomeUnknownError
from persidict.formats import Format, FormatError, get_format
from persidict.jokers import DELETE_CURRENT, KEEP_CURRENT, Joker
from persidict.keys import Key, KeyLayout, KeyLike, is_valid_part, normalize_key
from persidict.safe_str_tuple import NonEmptySafeStrTuple, SafeStrTuple
from persidict.storage.base import MISSING, ByteStore, Payload, PreconditionFailed, payload_bytes

if TYPE_CHECKING:
    from collections.abc import ItemsView, KeysView, ValuesView

_NO_DEFAULT = object()
NO_VALUE: Any = object()
"""The ``value`` of a commit of bytes written as they are (the filesystem view)."""
_POP_ATTEMPTS = 100
STREAM_MIN = 1 << 20
"""Values this big (by ``sys.getsizeof``, or stored size) stream to and from the store,
where the format streams; smaller ones go as bytes, which is faster for them."""
_CLASHES = (NotADirectoryError, IsADirectoryError, FileExistsError)
"""What a store raises when a key's file and another key's folder want one path."""


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


class PersiDict(
    TimestampsMixin, ConditionalMixin, MutableMapping[KeyLike, ValueType], Generic[ValueType]
):
    """A persistent dict: key tuples of safe strings -> values, one file per key.

    Args:
        store: where the bytes live (see ``persidict.storage``).
        serialization_format: a format name (``pkl``, ``json``, ``txt``,
            ``bytes``, ``npy``, ``parquet``) or a :class:`~persidict.formats.Format`.
        digest_len: if > 0, every path part gets a ``_<digest>`` suffix so
            keys that differ only in case never collide.
        append_only: values can be added but never overwritten or deleted;
            every write is an atomic exclusive create (MutationPolicyError
            if the key exists).
        base_class_for_values: if given, every value written and read must be
            an instance of it (TypeError naming the key otherwise).
        prefix: see the store from this key prefix: keys drop it (as
            :meth:`get_subdict` does).

    >>> from persidict import open_dict
    >>> d = open_dict("memory://demo/doc")
    >>> d["Eliza", "year"] = 1965
    >>> d["Eliza", "year"]
    1965
    """

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

    # the one write and delete path: every rule of the dict lives here
    def _check_mutable(self, key: Any, action: str) -> None:
        """MutationPolicyError if append-only; ``key`` None means the whole dict."""
        if self.append_only:
            what = f"{action} key {key!r}" if key is not None else action
            raise MutationPolicyError(
                "append-only",
                f"cannot {what} in {self.store.url}: this dict never "
                "overwrites or deletes a stored value",
            )

    def _commit(
        self, key: Any, path: str, data: Payload, expected: Any = None, value: Any = NO_VALUE
    ) -> str | None:
        """Store ``data`` as the value of ``key`` at ``path``; the new ETag.

        ``expected`` None: over whatever is stored; an append-only dict only
        creates, and if ``key`` is stored :meth:`_keep_existing` refuses or
        keeps it (None: nothing written). ``ITEM_NOT_AVAILABLE``: only if
        absent (None if something is stored). An ETag: only if that version
        is still stored (PreconditionFailed otherwise; never on an
        append-only dict). ``value`` is what ``data`` encodes, if known.
        """
        try:
            if expected is None and not self.append_only:
                return self.store.write(path, data)
            if expected is None or expected is ITEM_NOT_AVAILABLE:
                etag = self.store.create(path, data)
                if etag is None and expected is None:
                    self._keep_existing(key, path, data, value)
                return etag
            self._check_mutable(key, "overwrite")
            return self.store.write_if(path, data, expected)
        except _CLASHES as exc:
            raise self._clash(key, path, exc) from exc

    def _keep_existing(self, key: Any, path: str, data: Payload, value: Any) -> None:
        """A write found ``key`` stored in an append-only dict: refuse (a hook).

        WriteOnceDict overrides it to accept (and sometimes check) the repeat.
        """
        self._check_mutable(key, "overwrite")

    def _commit_many(self, entries: dict[str, tuple[Any, bytes, Any]]) -> None:
        """``_commit`` of each ``path: (key, data, value)`` concurrently; the first error raises."""
        data = {path: blob for path, (_, blob, _) in entries.items()}
        commit_many = self.store.create_many if self.append_only else self.store.write_many
        results = commit_many(data)
        for (path, (key, blob, value)), result in zip(entries.items(), results, strict=True):
            if isinstance(result, _CLASHES):
                raise self._clash(key, path, result) from result
            if isinstance(result, BaseException):
                raise result
            if result is None:
                self._keep_existing(key, path, blob, value)

    def _delete(self, key: Any, path: str, expected: str | None = None) -> None:
        """Remove ``key`` (if its ETag is still ``expected``); MISSING if absent."""
        self._check_mutable(key, "delete")
        if expected is None:
            self.store.delete(path)
        else:
            self.store.delete_if(path, expected)

    def _delete_many(self, keys: list[Any], *, missing_ok: bool) -> list[BaseException | None]:
        """Remove ``keys`` concurrently; per key None or the error (MISSING if absent)."""
        if keys:
            self._check_mutable(keys[0], "delete")
        return self.store.delete_many([self._path(k) for k in keys], missing_ok=missing_ok)

    def _clash(self, key: Any, path: str, exc: OSError) -> KeyClashError:
        """The error for ``key``, whose path another key's file or folder occupies."""
        other = self._key_in_the_way(path)
        whom = "a stored file or folder" if other is None else f"key {tuple(other)!r}"
        return KeyClashError(
            exc.errno or 0,
            f"cannot store key {normalize_key(key)!r} in {self.store.url}: {whom} is in "
            f"the way (a key's file and another key's folder cannot share a name; "
            f"{exc.strerror or exc})",
            self._where(path),
        )

    def _key_in_the_way(self, path: str) -> NonEmptySafeStrTuple | None:
        """The key whose file is a folder of ``path``, or whose folder ``path`` is."""
        parts = path.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if self.store.exists(folder):
                return self._key_of(folder)
        below = next(iter(self.store.iter_paths(path)), None)
        return None if below is None else self._key_of(below)

    # for views of the store as files (persidict_fs): the same path as d[k] = v
    def write_bytes(
        self, key: KeyLike, data: Payload, *, if_absent: bool = False, etag: str | None = None
    ) -> str | None:
        """Store already-encoded ``data`` as the value of ``key``, under every rule of ``d[k] = v``.

        ``if_absent``: only if ``key`` is absent (None if something is stored);
        ``etag``: only if its stored ETag is ``etag`` (PreconditionFailed
        otherwise). The bytes are checked against ``base_class_for_values``
        without running stored code. Returns the new ETag; None also when a
        write-once dict keeps the value it holds.
        """
        path = self._path(key)
        cls = self.base_class_for_values
        if cls is not None:
            where = f"the bytes written for key {key!r} in {self.store.url}"
            check_incoming(payload_bytes(data), self.format, cls, where)
        expected = ITEM_NOT_AVAILABLE if if_absent else etag
        return self._commit(key, path, data, expected)

    def discard_many(self, keys: Iterable[KeyLike]) -> list[bool]:
        """Delete each of ``keys`` concurrently; per key True if it was there."""
        keys = list(keys)
        found = []
        for result in self._delete_many(keys, missing_ok=False):
            if result is not None and not isinstance(result, MISSING):
                raise result
            found.append(result is None)
        return found

    # the Mapping contract
    def __getitem__(self, key: KeyLike) -> ValueType:
        try:
            return self._load(self._path(key))
        except MISSING:
            raise KeyError(key) from None

    def __setitem__(self, key: KeyLike, value: ValueType | Joker) -> None:
        """Store ``value``; ``KEEP_CURRENT`` does nothing, ``DELETE_CURRENT`` discards."""
        path = self._path(key)
        if value is KEEP_CURRENT:
            return
        if value is DELETE_CURRENT:
            self.discard(key)
            return
        self._commit(key, path, self._payload(value, key), value=value)

    def __delitem__(self, key: KeyLike) -> None:
        if not self.discard(key):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        try:
            path = self._path(key)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        return self.store.exists(path)

    if TYPE_CHECKING:  # Mapping's views, with the keys this dict hands out

        def keys(self) -> KeysView[NonEmptySafeStrTuple]: ...
        def items(self) -> ItemsView[NonEmptySafeStrTuple, ValueType]: ...
        def values(self) -> ValuesView[ValueType]: ...

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

    def __eq__(self, other: object) -> bool:
        """Equal to a mapping with the same items; str keys stand for their 1-tuples."""
        if self is other:
            return True
        if (
            type(self) is type(other)
            and self.prefix == other.prefix
            and self.get_params() == other.get_params()
        ):
            return True  # the same store seen twice
        if not isinstance(other, Mapping):
            return NotImplemented
        try:
            theirs = {normalize_key(k): v for k, v in other.items()}
        except (TypeError, ValueError):
            return False  # a key no dict of ours can hold
        return len(theirs) == len(other) and dict(self.items()) == theirs

    __hash__ = None  # type: ignore[assignment]  # mutable, like dict

    def __ior__(self, other: Any) -> PersiDict:
        """``d |= other`` is ``d.update(other)``."""
        if not isinstance(other, Mapping):
            return NotImplemented
        self.update(other)
        return self

    def __repr__(self) -> str:
        where = self._where(self.prefix_path) if self._prefix else self.store.url
        return f"{type(self).__name__}({where!r}, serialization_format={self.format.name!r})"

    def __reduce__(self):
        # The address and options, never the contents; a registered format
        # travels by name, any other by value (Format.__reduce__).
        state = dict(self.__dict__)
        return (_rebuild, (type(self), state))

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments that reopen this dict (sorted by name)."""
        params = {
            "append_only": self.append_only,
            "base_class_for_values": self.base_class_for_values,
            "digest_len": self.digest_len,
            "serialization_format": self.format.name,
            **self._address_params(),
        }
        return dict(sorted(params.items()))

    def _address_params(self) -> dict[str, Any]:
        """Where the data lives, as constructor arguments; backends override."""
        return {"store": self.store}

    # sub-dicts
    def get_subdict(self, prefix_key: KeyLike) -> PersiDict:
        """The same store seen from ``prefix_key``: its keys drop that prefix.

        Nothing is created; an absent prefix gives an empty sub-dict, an
        empty prefix the whole dict.
        """
        sub = copy.copy(self)
        sub._prefix = self._prefix + tuple(SafeStrTuple(prefix_key))
        return sub

    def subdicts(self) -> dict[str, PersiDict]:
        """``{first key part: sub-dict}`` for every first-level folder holding keys."""
        root = self.prefix_path
        result = {}
        for name in self.store.listdir(root)[1]:
            part = self.layout.from_dir_name(name)
            folder = f"{root}/{name}" if root else name
            if part is not None and not self.store.is_empty(folder):
                result[part] = self.get_subdict(part)
        return result

    # beyond the contract: atomic where a dict user would assume it
    def setdefault(self, key: KeyLike, default: Any = None) -> ValueType:
        """Insert ``default`` if ``key`` is absent (atomic exclusive create), return the value.

        Of many processes racing on one key, exactly one inserts.
        """
        path = self._path(key)
        data = self._payload(default, key)
        while True:
            if self._commit(key, path, data, ITEM_NOT_AVAILABLE) is not None:
                return default
            try:
                return self._load(path)
            except MISSING:
                continue  # deleted between our create and our read: try again

    def discard(self, key: KeyLike) -> bool:
        """Delete ``key`` if present; True if it was there."""
        try:
            self._delete(key, self._path(key))
        except MISSING:
            return False
        return True

    delete_if_exists = discard

    def pop(self, key: KeyLike, default: Any = _NO_DEFAULT) -> Any:
        """Remove ``key`` and return its value; the value returned is the one removed."""
        self._check_mutable(key, "pop")  # refuse before reading anything
        path = self._path(key)
        for _ in range(_POP_ATTEMPTS):
            try:
                data, etag = self.store.read_with_etag(path)
                value = self._decode(data, path)  # a value we cannot return stays stored
                self._delete(key, path, etag)
            except MISSING:
                break
            except PreconditionFailed:
                continue  # changed or removed by another writer since we read it
            except OutcomeUnknownError as exc:
                exc.value = value  # removed by this pop or another remover: not lost
                raise
            return value
        else:
            raise RuntimeError(f"pop({key!r}) kept losing races with other writers")
        if default is _NO_DEFAULT:
            raise KeyError(key)
        return default

    def popitem(self) -> tuple[NonEmptySafeStrTuple, ValueType]:
        self._check_mutable(None, "popitem")
        for key in self:
            try:
                return key, self.pop(key)
            except KeyError:
                continue
        raise KeyError("popitem(): dictionary is empty")

    def clear(self) -> None:
        self._check_mutable(None, "clear")
        self.delitems([k for k in self], missing_ok=True)  # list(self) would list twice

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Like ``dict.update``; all values are encoded first, then written concurrently."""
        items = dict(other.items() if isinstance(other, Mapping) else other)
        items.update(kwargs)
        self.setitems(items)

    # batches
    def getitems(self, keys: Iterable[KeyLike]) -> list[ValueType]:
        """Values of ``keys``, read concurrently; KeyError if any is missing."""
        keys = list(keys)
        paths = [self._path(k) for k in keys]
        results = self.store.read_many(paths)
        values = []
        for key, path, result in zip(keys, paths, results, strict=True):
            if isinstance(result, MISSING):
                raise KeyError(key)
            if isinstance(result, BaseException):
                raise result
            values.append(self._decode(result, path))
        return values

    def setitems(self, items: Mapping[KeyLike, Any] | Iterable[tuple[KeyLike, Any]]) -> None:
        """Write many items concurrently. Every key and value is checked before any write.

        Jokers work as in ``d[k] = v``; on an append-only dict each write is
        an exclusive create (MutationPolicyError if any key existed).
        """
        last: dict[str, tuple[KeyLike, Any]] = {}  # per path the effective entry, as in a loop
        for k, v in items.items() if isinstance(items, Mapping) else items:
            path = self._path(k)  # validates KEEP_CURRENT keys too
            if v is not KEEP_CURRENT:
                last[path] = (k, v)
        doomed = [k for k, v in last.values() if v is DELETE_CURRENT]
        entries = {
            path: (k, self._encode(v, k), v)
            for path, (k, v) in last.items()
            if v is not DELETE_CURRENT
        }
        if doomed:
            self._check_mutable(doomed[0], "delete")  # refuse before writing anything
        self._commit_many(entries)
        if doomed:
            self.delitems(doomed, missing_ok=True)

    def delitems(self, keys: Iterable[KeyLike], *, missing_ok: bool = False) -> None:
        """Delete many keys concurrently; KeyError for a missing one unless ``missing_ok``."""
        keys = list(keys)
        for key, result in zip(keys, self._delete_many(keys, missing_ok=missing_ok), strict=True):
            if isinstance(result, MISSING):
                if not missing_ok:
                    raise KeyError(key)
            elif isinstance(result, BaseException):
                raise result


def _rebuild(cls: type[PersiDict], state: dict[str, Any]) -> PersiDict:
    obj = cls.__new__(cls)
    fmt = resolve_format(state["format"], state.get("base_class_for_values"))
    obj.__dict__.update(state, format=fmt)
    return obj


__all__ = ["NO_VALUE", "STREAM_MIN", "FormatError", "PersiDict", "resolve_format"]

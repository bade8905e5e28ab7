"""PersiDict: a MutableMapping of key tuples to values, over any byte store.

The dict logic is written once here (plus the timestamps and conditional
mixins); a backend differs only in its store (``persidict.storage``).
Each key is one file, each value one format.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import replace
from typing import Any

from persidict.dicts.conditional import ConditionalMixin
from persidict.dicts.timestamps import TimestampsMixin
from persidict.errors import MutationPolicyError, OutcomeUnknownError
from persidict.formats import Format, FormatError, get_format
from persidict.jokers import DELETE_CURRENT, KEEP_CURRENT, Joker
from persidict.keys import Key, KeyLayout, KeyLike, _is_safe
from persidict.safe_str_tuple import NonEmptySafeStrTuple, SafeStrTuple
from persidict.storage.base import ByteStore, PreconditionFailed

_MISSING = object()
_POP_ATTEMPTS = 100


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
            and _is_safe(name)
        ):
            raise
        return replace(get_format("txt"), name=name, extension=f".{name}")


class PersiDict(TimestampsMixin, ConditionalMixin, MutableMapping):
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
        self._prefix: Key = ()

    @property
    def serialization_format(self) -> str:
        return self.format.name

    @property
    def digest_len(self) -> int:
        return self.layout.digest_len

    # keys <-> paths, values <-> bytes
    @property
    def _root_dir(self) -> str:
        return self.layout.to_dir(self._prefix) if self._prefix else ""

    def _path(self, key: KeyLike) -> str:
        path = self.layout.path_of(key)  # validated, cached
        return f"{self._root_dir}/{path}" if self._prefix else path

    def _key_of(self, path: str) -> NonEmptySafeStrTuple | None:
        root = self._root_dir
        key = self.layout.from_path(path[len(root) + 1 :] if root else path)
        return None if key is None else NonEmptySafeStrTuple._trusted(key)

    def _where(self, path: str) -> str:
        return f"{self.store.url.rstrip('/')}/{path}"

    def _encode(self, value: Any, key: Any = None) -> bytes:
        if isinstance(value, Joker):
            raise TypeError(f"{value!r} is a command, not a value that can be stored")
        cls = self.base_class_for_values
        if cls is not None and not isinstance(value, cls):
            raise TypeError(
                f"value for key {key!r} is a {type(value).__name__}; this dict "
                f"stores only instances of {cls.__name__} (base_class_for_values)"
            )
        return self.format.encode(value)

    def _decode(self, data: bytes, path: str) -> Any:
        value = self.format.decode(data, self._where(path))
        cls = self.base_class_for_values
        if cls is not None and not isinstance(value, cls):
            raise TypeError(
                f"value in {self._where(path)} is a {type(value).__name__}, not an "
                f"instance of {cls.__name__} (base_class_for_values)"
            )
        return value

    def _check_mutable(self, key: Any, action: str) -> None:
        """MutationPolicyError if append-only; ``key`` None means the whole dict."""
        if self.append_only:
            what = f"{action} key {key!r}" if key is not None else action
            raise MutationPolicyError(
                "append-only",
                f"cannot {what} in {self.store.url}: this dict never "
                "overwrites or deletes a stored value",
            )

    # stored bytes, for views of the store as files (persidict_fs): the dict's rules still hold
    def write_stored(
        self, path: str, data: bytes, *, exclusive: bool = False, etag: str | None = None
    ) -> str | None:
        """Commit already-encoded ``data`` at store path ``path``, as ``d[k] = v`` would.

        ``exclusive``: only if absent (None if something is there); ``etag``: only
        if unchanged (PreconditionFailed otherwise). ``base_class_for_values`` is
        checked; an append-only dict only ever creates (MutationPolicyError).
        """
        if self.base_class_for_values is not None:
            self._decode(data, path)  # TypeError naming the path
        if self.append_only and etag is not None:
            self._check_mutable(path, "overwrite")
        if exclusive:
            return self.store.create(path, data)
        if etag is not None:
            return self.store.write_if(path, data, etag)
        return self._store_value(path, data, path)

    def _store_value(self, path: str, data: bytes, key: Any) -> str:
        """Store ``data`` at ``path``: a plain write, or on an append-only dict a create."""
        if not self.append_only:
            return self.store.write(path, data)
        etag = self.store.create(path, data)
        if etag is None:
            self._check_mutable(key, "overwrite")
        return etag

    def delete_stored(self, paths: list[str]) -> list[BaseException | None]:
        """Delete store paths concurrently, as ``del d[k]`` would; per-path results."""
        if paths:
            self._check_mutable(paths[0], "delete")
        return self.store.delete_many(paths)

    # the Mapping contract
    def __getitem__(self, key: KeyLike) -> Any:
        path = self._path(key)
        try:
            data = self.store.read(path)
        except (FileNotFoundError, IsADirectoryError):
            raise KeyError(key) from None
        return self._decode(data, path)

    def __setitem__(self, key: KeyLike, value: Any) -> None:
        """Store ``value``; ``KEEP_CURRENT`` does nothing, ``DELETE_CURRENT`` discards."""
        if value is KEEP_CURRENT:
            self._path(key)  # still reject a bad key
            return
        if value is DELETE_CURRENT:
            self.discard(key)
            return
        path = self._path(key)
        self._store_value(path, self._encode(value, key), key)

    def __delitem__(self, key: KeyLike) -> None:
        self._check_mutable(key, "delete")
        path = self._path(key)
        try:
            self.store.delete(path)
        except (FileNotFoundError, IsADirectoryError):
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        try:
            path = self._path(key)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        return self.store.exists(path)

    def __iter__(self) -> Iterator[NonEmptySafeStrTuple]:
        keys_in, wrap, cut = self.layout.keys_in, NonEmptySafeStrTuple._trusted, len(self._prefix)
        for folder, names in self.store.iter_folders(self._root_dir):
            for key in keys_in(folder, names):
                yield wrap(key[cut:])

    def __len__(self) -> int:
        count_in = self.layout.count_in
        folders = self.store.iter_folders(self._root_dir)
        return sum(count_in(folder, names) for folder, names in folders)

    def __bool__(self) -> bool:
        return next(iter(self), None) is not None

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if (
            type(self) is type(other)
            and self._prefix == other._prefix
            and self.get_params() == other.get_params()
        ):
            return True  # the same store seen twice
        return super().__eq__(other)

    __hash__ = None  # mutable, like dict

    def __ior__(self, other: Any) -> PersiDict:
        """``d |= other`` is ``d.update(other)``."""
        if not isinstance(other, Mapping):
            return NotImplemented
        self.update(other)
        return self

    def __repr__(self) -> str:
        where = self._where(self._root_dir) if self._prefix else self.store.url
        return f"{type(self).__name__}({where!r}, serialization_format={self.format.name!r})"

    def __reduce__(self):
        # The address and options, never the contents; the format by name.
        state = dict(self.__dict__, format=self.format.name)
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
        root = self._root_dir
        result = {}
        for name in self.store.listdir(root)[1]:
            part = self.layout.from_dir_name(name)
            folder = f"{root}/{name}" if root else name
            if part is not None and not self.store.is_empty(folder):
                result[part] = self.get_subdict(part)
        return result

    # beyond the contract: atomic where a dict user would assume it
    def setdefault(self, key: KeyLike, default: Any = None) -> Any:
        """Insert ``default`` if ``key`` is absent (atomic exclusive create), return the value.

        Of many processes racing on one key, exactly one inserts.
        """
        path = self._path(key)
        data = self._encode(default, key)
        while True:
            if self.store.create(path, data) is not None:
                return default
            try:
                return self._decode(self.store.read(path), path)
            except FileNotFoundError:
                continue  # deleted between our create and our read: try again

    def discard(self, key: KeyLike) -> bool:
        """Delete ``key`` if present; True if it was there."""
        self._check_mutable(key, "delete")
        try:
            self.store.delete(self._path(key))
        except (FileNotFoundError, IsADirectoryError):
            return False
        return True

    delete_if_exists = discard

    def pop(self, key: KeyLike, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value; the value returned is the one removed."""
        self._check_mutable(key, "pop")
        path = self._path(key)
        for _ in range(_POP_ATTEMPTS):
            try:
                data, etag = self.store.read_with_etag(path)
                value = self._decode(data, path)  # a value we cannot return stays stored
                self.store.delete_if(path, etag)
            except (FileNotFoundError, IsADirectoryError):
                break
            except PreconditionFailed:
                continue  # changed or removed by another writer since we read it
            except OutcomeUnknownError as exc:
                exc.value = value  # removed by this pop or another remover: not lost
                raise
            return value
        else:
            raise RuntimeError(f"pop({key!r}) kept losing races with other writers")
        if default is _MISSING:
            raise KeyError(key)
        return default

    def popitem(self) -> tuple[Key, Any]:
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
    def getitems(self, keys: Iterable[KeyLike]) -> list[Any]:
        """Values of ``keys``, read concurrently; KeyError if any is missing."""
        keys = list(keys)
        paths = [self._path(k) for k in keys]
        results = self.store.read_many(paths)
        values = []
        for key, path, result in zip(keys, paths, results, strict=True):
            if isinstance(result, (FileNotFoundError, IsADirectoryError)):
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
        encoded = {
            path: (k, self._encode(v, k))
            for path, (k, v) in last.items()
            if not isinstance(v, Joker)
        }
        if doomed:
            self._check_mutable(doomed[0], "delete")
        data = {path: blob for path, (_, blob) in encoded.items()}
        if self.append_only:
            results = self.store.create_many(data)
            for (key, _), result in zip(encoded.values(), results, strict=True):
                if isinstance(result, BaseException):
                    raise result
                if result is None:
                    self._check_mutable(key, "overwrite")
        else:
            for result in self.store.write_many(data):
                if isinstance(result, BaseException):
                    raise result
        if doomed:
            self.delitems(doomed, missing_ok=True)

    def delitems(self, keys: Iterable[KeyLike], *, missing_ok: bool = False) -> None:
        """Delete many keys concurrently; KeyError for a missing one unless ``missing_ok``."""
        keys = list(keys)
        if keys:
            self._check_mutable(keys[0], "delete")
        results = self.store.delete_many([self._path(k) for k in keys], missing_ok=missing_ok)
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, (FileNotFoundError, IsADirectoryError)):
                if not missing_ok:
                    raise KeyError(key)
            elif isinstance(result, BaseException):
                raise result


def _rebuild(cls: type, state: dict[str, Any]) -> PersiDict:
    obj = cls.__new__(cls)
    fmt = resolve_format(state["format"], state.get("base_class_for_values"))
    obj.__dict__.update(state, format=fmt)
    return obj


__all__ = ["FormatError", "PersiDict", "resolve_format"]

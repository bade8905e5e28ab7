"""PersiDict: a MutableMapping of key tuples to values, over any byte store.

The dict logic is written once (a backend differs only in its store,
``persidict.storage``), in layers: :mod:`~persidict.dicts.stored` maps keys
and values to the store's paths and bytes and lists keys;
:mod:`~persidict.dicts.commits` is the one write and delete path, where the
dict's rules live; the timestamps and conditional mixins; and here the
public API: the mapping contract, its atomic extras, and batches.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, Mapping, MutableMapping, ValuesView
from typing import TYPE_CHECKING, Any, Generic

from persidict.conditions import ITEM_NOT_AVAILABLE, ValueType
from persidict.dicts.commits import Commits
from persidict.dicts.conditional import ConditionalMixin
from persidict.dicts.stored import resolve_format
from persidict.dicts.timestamps import TimestampsMixin
from persidict.errors import OutcomeUnknownError
from persidict.jokers import DELETE_CURRENT, KEEP_CURRENT, Joker
from persidict.keys import KeyLike, normalize_key
from persidict.safe_str_tuple import NonEmptySafeStrTuple
from persidict.storage.base import MISSING, PreconditionFailed

if TYPE_CHECKING:
    from collections.abc import KeysView

_NO_DEFAULT = object()


def _present(d: PersiDict) -> Iterator[tuple[Any, Any]]:
    """``(key, value)`` of every key listed that is still there when read."""
    for key in d:
        try:
            yield key, d[key]
        except KeyError:
            continue  # deleted (by anyone) since it was listed, as a live listing allows


class _Items(ItemsView):
    def __iter__(self):
        return _present(self._mapping)


class _Values(ValuesView):
    def __iter__(self):
        return (value for _, value in _present(self._mapping))


_POP_ATTEMPTS = 100


class PersiDict(
    TimestampsMixin,
    ConditionalMixin,
    Commits,
    MutableMapping[KeyLike, ValueType],
    Generic[ValueType],
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

    def items(self) -> ItemsView[NonEmptySafeStrTuple, ValueType]:
        """A view of ``(key, value)`` pairs; keys deleted while it iterates are skipped."""
        return _Items(self)

    def values(self) -> ValuesView[ValueType]:
        """A view of the values; keys deleted while it iterates are skipped."""
        return _Values(self)

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
        where = self._where(self.prefix_path) if self.prefix else self.store.url
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


__all__ = ["PersiDict"]

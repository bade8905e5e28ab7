"""PersiDict: a MutableMapping of key tuples to values, over any byte store.

The dict logic is written once here; a backend differs only in its store
(``persidict.storage``). Each key is one file, each value one format.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from persidict.formats import Format, FormatError, get_format
from persidict.keys import Key, KeyLayout, KeyLike
from persidict.storage.base import ByteStore, PreconditionFailed

_MISSING = object()
_POP_ATTEMPTS = 100


class PersiDict(MutableMapping):
    """A persistent dict: key tuples of safe strings -> values, one file per key.

    Args:
        store: where the bytes live (see ``persidict.storage``).
        serialization_format: a format name (``pkl``, ``json``, ``txt``,
            ``bytes``, ``npy``, ``parquet``) or a :class:`~persidict.formats.Format`.
        digest_len: if > 0, every path part gets a ``_<digest>`` suffix so
            keys that differ only in case never collide.

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
    ) -> None:
        self.store = store
        self.format = get_format(serialization_format)
        self.layout = KeyLayout(self.format.extension, digest_len)

    @property
    def serialization_format(self) -> str:
        return self.format.name

    @property
    def digest_len(self) -> int:
        return self.layout.digest_len

    # helpers
    def _path(self, key: KeyLike) -> str:
        return self.layout.path_of(key)

    def _where(self, path: str) -> str:
        return f"{self.store.url.rstrip('/')}/{path}"

    def _encode(self, value: Any) -> bytes:
        return self.format.encode(value)

    def _decode(self, data: bytes, path: str) -> Any:
        return self.format.decode(data, self._where(path))

    # the Mapping contract
    def __getitem__(self, key: KeyLike) -> Any:
        path = self._path(key)
        try:
            data = self.store.read(path)
        except (FileNotFoundError, IsADirectoryError):
            raise KeyError(key) from None
        return self._decode(data, path)

    def __setitem__(self, key: KeyLike, value: Any) -> None:
        path = self._path(key)
        self.store.write(path, self._encode(value))

    def __delitem__(self, key: KeyLike) -> None:
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

    def __iter__(self) -> Iterator[Key]:
        keys_in = self.layout.keys_in
        for folder, names in self.store.iter_folders():
            yield from keys_in(folder, names)

    def __len__(self) -> int:
        count_in = self.layout.count_in
        return sum(count_in(folder, names) for folder, names in self.store.iter_folders())

    def __bool__(self) -> bool:
        return next(iter(self), None) is not None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.store.url!r}, serialization_format={self.format.name!r})"
        )

    def __reduce__(self):
        # The address and options, never the contents; the format by name.
        state = dict(self.__dict__, format=self.format.name)
        return (_rebuild, (type(self), state))

    # beyond the contract: atomic where a dict user would assume it
    def setdefault(self, key: KeyLike, default: Any = None) -> Any:
        """Insert ``default`` if ``key`` is absent (atomic exclusive create), return the value.

        Of many processes racing on one key, exactly one inserts.
        """
        path = self._path(key)
        data = self._encode(default)
        while True:
            if self.store.create(path, data) is not None:
                return default
            try:
                return self._decode(self.store.read(path), path)
            except FileNotFoundError:
                continue  # deleted between our create and our read: try again

    def pop(self, key: KeyLike, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value; the value returned is the one removed."""
        path = self._path(key)
        for _ in range(_POP_ATTEMPTS):
            try:
                data, etag = self.store.read_with_etag(path)
                self.store.delete_if(path, etag)
            except (FileNotFoundError, IsADirectoryError):
                break
            except PreconditionFailed:
                continue  # changed or removed by another writer since we read it
            return self._decode(data, path)
        else:
            raise RuntimeError(f"pop({key!r}) kept losing races with other writers")
        if default is _MISSING:
            raise KeyError(key)
        return default

    def popitem(self) -> tuple[Key, Any]:
        for key in self:
            try:
                return key, self.pop(key)
            except KeyError:
                continue
        raise KeyError("popitem(): dictionary is empty")

    def clear(self) -> None:
        self.delitems(list(self), missing_ok=True)

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
        """Write many items concurrently. Every key and value is checked before any write."""
        pairs = items.items() if isinstance(items, Mapping) else items
        encoded = {self._path(k): self._encode(v) for k, v in pairs}
        for result in self.store.write_many(encoded):
            if isinstance(result, BaseException):
                raise result

    def delitems(self, keys: Iterable[KeyLike], *, missing_ok: bool = False) -> None:
        """Delete many keys concurrently; KeyError for a missing one unless ``missing_ok``."""
        keys = list(keys)
        results = self.store.delete_many([self._path(k) for k in keys])
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, (FileNotFoundError, IsADirectoryError)):
                if not missing_ok:
                    raise KeyError(key)
            elif isinstance(result, BaseException):
                raise result


def _rebuild(cls: type, state: dict[str, Any]) -> PersiDict:
    obj = cls.__new__(cls)
    obj.__dict__.update(state, format=get_format(state["format"]))
    return obj


__all__ = ["FormatError", "PersiDict"]

"""Read-through caches in front of a dict: AppendOnlyDictCached and MutableDictCached.

Both are PersiDicts over a :class:`~persidict.storage.cached.CachedStore`:
the main dict's store read through the cache dict's store. Everything else
(conditional operations, timestamps, sub-dicts) is PersiDict's own logic.
"""

from __future__ import annotations

from typing import Any

from persidict.conditions import ValueType
from persidict.dicts.base import PersiDict
from persidict.storage.cached import CachedStore
from persidict.wrappers.view import like


def _check_dicts(**dicts: Any) -> None:
    for name, value in dicts.items():
        if value is not None and not isinstance(value, PersiDict):
            raise TypeError(f"{name} must be a PersiDict, not {type(value).__name__}")


class AppendOnlyDictCached(PersiDict[ValueType]):
    """An append-only ``main_dict`` whose values, once seen, are served from ``data_cache``.

    Values never change in an append-only dict, so a cached value is
    trusted: a cache hit makes no request to the main store.

    >>> d = AppendOnlyDictCached(
    ...     main_dict=S3Dict(bucket_name="b", append_only=True),
    ...     data_cache=FileDirDict(base_dir="/tmp/cache", append_only=True))  # doctest: +SKIP
    """

    def __init__(
        self, *, main_dict: PersiDict[ValueType], data_cache: PersiDict[ValueType]
    ) -> None:
        _check_dicts(main_dict=main_dict, data_cache=data_cache)
        if not main_dict.append_only:
            raise ValueError(f"main_dict {main_dict!r} must be append-only to trust a cache")
        if main_dict.base_class_for_values != data_cache.base_class_for_values:
            raise ValueError("main_dict and data_cache must have the same base_class_for_values")
        store = CachedStore(
            main_dict.store, data_cache.store, revalidate=False, cache_prefix=data_cache.prefix_path
        )
        super().__init__(store, **like(main_dict))
        self._main = main_dict
        self._data_cache = data_cache

    def get_params(self) -> dict[str, Any]:
        return {"data_cache": self._data_cache, "main_dict": self._main}


class MutableDictCached(PersiDict[ValueType]):
    """A ``main_dict`` whose values are cached in ``data_cache`` and revalidated by ETag.

    A read of a cached key is one conditional read of the main store (on S3
    a GET with ``If-None-Match``): 304 means the cached value is current and
    no body is transferred. Each cache entry holds the value and its ETag in
    one atomically written file, so ``etag_cache`` is not needed; it is
    accepted for compatibility with the reference library.
    """

    def __init__(
        self,
        *,
        main_dict: PersiDict[ValueType],
        data_cache: PersiDict[ValueType],
        etag_cache: PersiDict[str] | None = None,
    ) -> None:
        _check_dicts(main_dict=main_dict, data_cache=data_cache, etag_cache=etag_cache)
        store = CachedStore(
            main_dict.store, data_cache.store, revalidate=True, cache_prefix=data_cache.prefix_path
        )
        super().__init__(store, **like(main_dict))
        self._main_dict = main_dict
        self._data_cache = data_cache
        self._etag_cache = etag_cache

    def get_params(self) -> dict[str, Any]:
        return {
            "data_cache": self._data_cache,
            "etag_cache": self._etag_cache,
            "main_dict": self._main_dict,
        }

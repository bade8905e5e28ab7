"""OverlappingMultiDict: one dict per serialization format over the same root."""

from __future__ import annotations

from typing import Any

from persidict.dicts.base import PersiDict


class OverlappingMultiDict:
    """Several dicts of one type sharing a root, one per format, as attributes.

    Keys of different formats never collide because each format has its own
    file extension: ``m.json["a"]`` is ``a.json``, ``m.pkl["a"]`` is ``a.pkl``.

    >>> m = OverlappingMultiDict(dict_type=FileDirDict,
    ...                          shared_subdicts_params={"base_dir": "data"},
    ...                          json={}, pkl={})  # doctest: +SKIP
    >>> m.json["a"] = 1; m.pkl["a"] = 2             # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        dict_type: type[PersiDict],
        shared_subdicts_params: dict[str, Any],
        **individual_subdicts_params: dict[str, Any],
    ) -> None:
        if not (isinstance(dict_type, type) and issubclass(dict_type, PersiDict)):
            raise TypeError(f"dict_type must be a PersiDict subclass, not {dict_type!r}")
        if not isinstance(shared_subdicts_params, dict):
            raise TypeError("shared_subdicts_params must be a dict")
        self.dict_type = dict_type
        self.shared_subdicts_params = shared_subdicts_params
        self.individual_subdicts_params = individual_subdicts_params
        self.subdicts_names = list(individual_subdicts_params)
        for name, params in individual_subdicts_params.items():
            if not isinstance(params, dict):
                raise TypeError(f"parameters for sub-dict {name!r} must be a dict")
            options = {**shared_subdicts_params, **params, "serialization_format": name}
            setattr(self, name, dict_type(**options))

    def _refuse(self, what: str) -> TypeError:
        return TypeError(
            f"OverlappingMultiDict has no {what}; use its sub-dicts {self.subdicts_names}"
        )

    def __getitem__(self, key: Any) -> Any:
        raise self._refuse("items")

    def __setitem__(self, key: Any, value: Any) -> None:
        raise self._refuse("items")

    def __delitem__(self, key: Any) -> None:
        raise self._refuse("items")

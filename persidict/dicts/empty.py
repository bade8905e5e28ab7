"""EmptyDict: a PersiDict that keeps nothing, like ``/dev/null``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from persidict.conditions import (
    ITEM_NOT_AVAILABLE,
    ConditionalOperationResult,
    OperationResult,
    ValueType,
)
from persidict.dicts.base import PersiDict
from persidict.formats import Format
from persidict.storage.memory import NullStore


class EmptyDict(PersiDict[ValueType]):
    """Accepts every write (after the usual checks of key and value) and keeps nothing.

    Reads find nothing, ``len`` is 0, iteration is empty. Useful to switch
    persistence off without changing the code around it.

    >>> d = EmptyDict()
    >>> d["a"] = 1
    >>> "a" in d, len(d)
    (False, 0)
    """

    def __init__(
        self,
        *,
        serialization_format: str | Format = "pkl",
        append_only: bool = False,
        base_class_for_values: type | None = None,
    ) -> None:
        super().__init__(
            NullStore(),
            serialization_format,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
        )

    def _address_params(self) -> dict[str, Any]:
        return {}

    # What a write leaves is nothing: results say so (as persidict 0.309.0's do).
    def set_item_if(self, key: Any, **kwargs: Any) -> ConditionalOperationResult:
        return _kept_nothing(super().set_item_if(key, **kwargs))

    def setdefault_if(self, key: Any, **kwargs: Any) -> ConditionalOperationResult:
        return _kept_nothing(super().setdefault_if(key, **kwargs))

    def transform_item(
        self, key: Any, *, transformer: Any, n_retries: int | None = 6
    ) -> OperationResult:
        """Nothing to transform: the transformer is not called (the key is checked)."""
        self._path(key)
        return OperationResult(ITEM_NOT_AVAILABLE, ITEM_NOT_AVAILABLE)

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        del params["digest_len"]
        return params


def _kept_nothing(result: ConditionalOperationResult) -> ConditionalOperationResult:
    if not result.condition_was_satisfied:
        return result
    return replace(result, resulting_etag=ITEM_NOT_AVAILABLE, new_value=ITEM_NOT_AVAILABLE)

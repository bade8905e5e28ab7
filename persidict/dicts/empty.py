"""EmptyDict: a PersiDict that keeps nothing, like ``/dev/null``."""

from __future__ import annotations

from typing import Any

from persidict.conditions import ValueType
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

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        del params["digest_len"]
        return params

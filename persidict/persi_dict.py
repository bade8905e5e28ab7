"""persidict 0.309.0's module path for PersiDict and its key types (re-exported)."""

from persidict.dicts.base import PersiDict
from persidict.safe_str_tuple import NonEmptySafeStrTuple, SafeStrTuple

PersiDictKey = SafeStrTuple | str | tuple[str, ...] | list[str]
NonEmptyPersiDictKey = NonEmptySafeStrTuple | str | tuple[str, ...] | list[str]

__all__ = ["NonEmptyPersiDictKey", "PersiDict", "PersiDictKey"]

"""ETag conditions, retrieval flags, sentinels and result objects of conditional operations.

Every stored item has an ETag, an opaque version string that changes on
every write. A conditional operation names an ``expected_etag`` (or
``ITEM_NOT_AVAILABLE``: "I believe the key is absent") and a condition:

- ``ANY_ETAG``: always satisfied;
- ``ETAG_IS_THE_SAME``: satisfied if the stored ETag equals the expected one;
- ``ETAG_HAS_CHANGED``: satisfied if it differs.

This module is pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Generic, NewType, Protocol, TypeAlias, TypeVar, runtime_checkable

from persidict.jokers import DeleteCurrentFlag, KeepCurrentFlag, Singleton

ETagValue = NewType("ETagValue", str)
ValueType = TypeVar("ValueType")


class ItemNotAvailableFlag(Singleton):
    """The key is absent (as an ETag: absent before/after; as a value: nothing to return)."""

    _name = "ITEM_NOT_AVAILABLE"


class ValueNotRetrievedFlag(Singleton):
    """The key exists but its value was not fetched (see the retrieve flags)."""

    _name = "VALUE_NOT_RETRIEVED"


class ETagConditionFlag(Singleton):
    """Base of the three ETag conditions."""


class AnyETagFlag(ETagConditionFlag):
    _name = "ANY_ETAG"


class ETagIsTheSameFlag(ETagConditionFlag):
    _name = "ETAG_IS_THE_SAME"


class ETagHasChangedFlag(ETagConditionFlag):
    _name = "ETAG_HAS_CHANGED"


class RetrieveValueFlag(Singleton):
    """Base of the flags saying when a conditional operation fetches the value."""


class AlwaysRetrieveFlag(RetrieveValueFlag):
    _name = "ALWAYS_RETRIEVE"


class NeverRetrieveFlag(RetrieveValueFlag):
    _name = "NEVER_RETRIEVE"


class IfETagChangedRetrieveFlag(RetrieveValueFlag):
    _name = "IF_ETAG_CHANGED"


ITEM_NOT_AVAILABLE: Final = ItemNotAvailableFlag()
VALUE_NOT_RETRIEVED: Final = ValueNotRetrievedFlag()
ANY_ETAG: Final = AnyETagFlag()
ETAG_IS_THE_SAME: Final = ETagIsTheSameFlag()
ETAG_HAS_CHANGED: Final = ETagHasChangedFlag()
ALWAYS_RETRIEVE: Final = AlwaysRetrieveFlag()
NEVER_RETRIEVE: Final = NeverRetrieveFlag()
IF_ETAG_CHANGED: Final = IfETagChangedRetrieveFlag()

ETagIfExists: TypeAlias = ETagValue | ItemNotAvailableFlag


@runtime_checkable
class TransformingFunction(Protocol[ValueType]):
    """``transform_item``'s callback: current value or ITEM_NOT_AVAILABLE -> new value or joker."""

    def __call__(
        self, current: ValueType | ItemNotAvailableFlag, /
    ) -> ValueType | KeepCurrentFlag | DeleteCurrentFlag: ...


def condition_holds(condition: Any, expected: Any, actual: Any) -> bool:
    """Whether ``condition`` holds between the expected and the actual ETag."""
    if condition is ANY_ETAG:
        return True
    if condition is ETAG_IS_THE_SAME:
        return expected == actual
    if condition is ETAG_HAS_CHANGED:
        return expected != actual
    raise ValueError(
        f"condition must be ANY_ETAG, ETAG_IS_THE_SAME or ETAG_HAS_CHANGED, not {condition!r}"
    )


def check_retrieve_flag(flag: Any) -> None:
    if not isinstance(flag, RetrieveValueFlag):
        raise TypeError(
            f"retrieve_value must be ALWAYS_RETRIEVE, NEVER_RETRIEVE or IF_ETAG_CHANGED, "
            f"not {flag!r}"
        )


@dataclass(frozen=True)
class OperationResult(Generic[ValueType]):
    """What ``transform_item`` left: the ETag and value now stored (or ITEM_NOT_AVAILABLE)."""

    resulting_etag: ETagIfExists
    new_value: Any


@dataclass(frozen=True)
class ConditionalOperationResult(Generic[ValueType]):
    """The outcome of a conditional operation.

    ``actual_etag`` is the version the decision was made against,
    ``resulting_etag`` the version stored afterwards, ``new_value`` the value
    stored afterwards (or ITEM_NOT_AVAILABLE / VALUE_NOT_RETRIEVED).
    """

    condition_was_satisfied: bool
    actual_etag: ETagIfExists
    resulting_etag: ETagIfExists
    new_value: Any

    @property
    def value_was_mutated(self) -> bool:
        """Whether the operation changed what is stored."""
        return self.resulting_etag != self.actual_etag


__all__ = [
    "ALWAYS_RETRIEVE",
    "ANY_ETAG",
    "ETAG_HAS_CHANGED",
    "ETAG_IS_THE_SAME",
    "IF_ETAG_CHANGED",
    "ITEM_NOT_AVAILABLE",
    "NEVER_RETRIEVE",
    "VALUE_NOT_RETRIEVED",
    "AlwaysRetrieveFlag",
    "AnyETagFlag",
    "ConditionalOperationResult",
    "ETagConditionFlag",
    "ETagHasChangedFlag",
    "ETagIfExists",
    "ETagIsTheSameFlag",
    "ETagValue",
    "IfETagChangedRetrieveFlag",
    "ItemNotAvailableFlag",
    "NeverRetrieveFlag",
    "OperationResult",
    "RetrieveValueFlag",
    "TransformingFunction",
    "ValueNotRetrievedFlag",
    "ValueType",
]

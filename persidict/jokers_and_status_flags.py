"""persidict 0.309.0's module path for the jokers, flags and result types (re-exported).

The two status flags are the reference library's internal markers for "go on" and
"done"; they are kept so that code importing them runs unchanged.
"""

from __future__ import annotations

from typing import Final

from persidict.conditions import (
    ALWAYS_RETRIEVE,
    ANY_ETAG,
    ETAG_HAS_CHANGED,
    ETAG_IS_THE_SAME,
    IF_ETAG_CHANGED,
    ITEM_NOT_AVAILABLE,
    NEVER_RETRIEVE,
    VALUE_NOT_RETRIEVED,
    AlwaysRetrieveFlag,
    AnyETagFlag,
    ConditionalOperationResult,
    ETagConditionFlag,
    ETagHasChangedFlag,
    ETagIfExists,
    ETagIsTheSameFlag,
    ETagValue,
    IfETagChangedRetrieveFlag,
    ItemNotAvailableFlag,
    NeverRetrieveFlag,
    OperationResult,
    RetrieveValueFlag,
    TransformingFunction,
    ValueNotRetrievedFlag,
    ValueType,
)
from persidict.jokers import DELETE_CURRENT, KEEP_CURRENT, DeleteCurrentFlag, Joker, KeepCurrentFlag
from persidict.jokers import Singleton as SingletonMixin


class StatusFlag(SingletonMixin):
    """Base of the status flags."""


class ContinueNormalExecutionFlag(StatusFlag):
    """Status: the operation goes on as usual."""

    _name = "CONTINUE_NORMAL_EXECUTION"


class ExecutionIsCompleteFlag(StatusFlag):
    """Status: the operation is already complete."""

    _name = "EXECUTION_IS_COMPLETE"


CONTINUE_NORMAL_EXECUTION: Final = ContinueNormalExecutionFlag()
EXECUTION_IS_COMPLETE: Final = ExecutionIsCompleteFlag()

__all__ = [
    "ALWAYS_RETRIEVE",
    "ANY_ETAG",
    "CONTINUE_NORMAL_EXECUTION",
    "DELETE_CURRENT",
    "ETAG_HAS_CHANGED",
    "ETAG_IS_THE_SAME",
    "EXECUTION_IS_COMPLETE",
    "IF_ETAG_CHANGED",
    "ITEM_NOT_AVAILABLE",
    "KEEP_CURRENT",
    "NEVER_RETRIEVE",
    "VALUE_NOT_RETRIEVED",
    "AlwaysRetrieveFlag",
    "AnyETagFlag",
    "ConditionalOperationResult",
    "ContinueNormalExecutionFlag",
    "DeleteCurrentFlag",
    "ETagConditionFlag",
    "ETagHasChangedFlag",
    "ETagIfExists",
    "ETagIsTheSameFlag",
    "ETagValue",
    "ExecutionIsCompleteFlag",
    "IfETagChangedRetrieveFlag",
    "ItemNotAvailableFlag",
    "Joker",
    "KeepCurrentFlag",
    "NeverRetrieveFlag",
    "OperationResult",
    "RetrieveValueFlag",
    "SingletonMixin",
    "StatusFlag",
    "TransformingFunction",
    "ValueNotRetrievedFlag",
    "ValueType",
]

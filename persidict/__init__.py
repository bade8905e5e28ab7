"""persidict: persistent dicts of key tuples, one file per key, on any fsspec filesystem."""

from importlib import metadata as _metadata

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
from persidict.dicts import (
    BasicS3Dict,
    EmptyDict,
    FileDirDict,
    LocalDict,
    OverlappingMultiDict,
    PersiDict,
    S3Dict,
    open_dict,
)
from persidict.errors import (
    BackendError,
    ConcurrencyConflictError,
    ConditionalWritesUnsupportedError,
    KeyClashError,
    LayoutError,
    MutationPolicyError,
    OutcomeUnknownError,
)
from persidict.formats import Format, FormatError, get_format, json_format, register_format
from persidict.jokers import DELETE_CURRENT, KEEP_CURRENT, DeleteCurrentFlag, Joker, KeepCurrentFlag
from persidict.keys import normalize_key
from persidict.s3_dict_file_dir_cached import S3Dict_FileDirCached
from persidict.safe_chars import SAFE_CHARS_SET, SAFE_STRING_MAX_LENGTH, contains_unsafe_chars
from persidict.safe_str_tuple import (
    NonEmptySafeStrTuple,
    SafeStrTuple,
    get_safe_chars,
    replace_unsafe_chars,
)
from persidict.wrappers import AppendOnlyDictCached, MutableDictCached, WriteOnceDict

PersiDictKey = SafeStrTuple | str | tuple[str, ...] | list[str]
NonEmptyPersiDictKey = NonEmptySafeStrTuple | str | tuple[str, ...] | list[str]

try:
    __version__ = _metadata.version("persidict")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "ALWAYS_RETRIEVE",
    "ANY_ETAG",
    "DELETE_CURRENT",
    "ETAG_HAS_CHANGED",
    "ETAG_IS_THE_SAME",
    "IF_ETAG_CHANGED",
    "ITEM_NOT_AVAILABLE",
    "KEEP_CURRENT",
    "NEVER_RETRIEVE",
    "SAFE_CHARS_SET",
    "SAFE_STRING_MAX_LENGTH",
    "VALUE_NOT_RETRIEVED",
    "AlwaysRetrieveFlag",
    "AnyETagFlag",
    "AppendOnlyDictCached",
    "BackendError",
    "BasicS3Dict",
    "ConcurrencyConflictError",
    "ConditionalOperationResult",
    "ConditionalWritesUnsupportedError",
    "DeleteCurrentFlag",
    "ETagConditionFlag",
    "ETagHasChangedFlag",
    "ETagIfExists",
    "ETagIsTheSameFlag",
    "ETagValue",
    "EmptyDict",
    "FileDirDict",
    "Format",
    "FormatError",
    "IfETagChangedRetrieveFlag",
    "ItemNotAvailableFlag",
    "Joker",
    "KeepCurrentFlag",
    "KeyClashError",
    "LayoutError",
    "LocalDict",
    "MutableDictCached",
    "MutationPolicyError",
    "NeverRetrieveFlag",
    "NonEmptyPersiDictKey",
    "NonEmptySafeStrTuple",
    "OperationResult",
    "OutcomeUnknownError",
    "OverlappingMultiDict",
    "PersiDict",
    "PersiDictKey",
    "RetrieveValueFlag",
    "S3Dict",
    "S3Dict_FileDirCached",
    "SafeStrTuple",
    "TransformingFunction",
    "ValueNotRetrievedFlag",
    "ValueType",
    "WriteOnceDict",
    "__version__",
    "contains_unsafe_chars",
    "get_format",
    "get_safe_chars",
    "json_format",
    "normalize_key",
    "open_dict",
    "register_format",
    "replace_unsafe_chars",
]

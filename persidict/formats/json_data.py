"""The json format: jsonpickle text that decodes data only, unless trusted.

Reading builds builtins, the standard library value types in
:data:`DATA_CLASSES`, numpy and pandas values (``persidict.formats.frames``)
and the classes the user allows. Any other ``py/object``, ``py/type``,
``py/reduce`` callable, ``py/function``, ``py/mod`` or ``py/repr`` is refused
with :class:`FormatError` before its module is imported or anything is
called. ``json_format(trusted=True)`` reads whatever jsonpickle can, which
runs code named in the stored file: only for stores you trust.

Writing refuses what would not come back exactly: jsonpickle silently
drops or replaces what it cannot encode, so a value holding anything but
plain builtins is read back at once and compared.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from persidict.formats import frames
from persidict.formats.base import Format, FormatError

#: Classes every json dict may build (jsonpickle's names for them).
DATA_CLASSES = frozenset(
    {
        *(
            f"builtins.{n}"
            for n in (
                "complex", "bytearray", "range", "slice", "frozenset", "set", "tuple",
                "list", "dict", "int", "float", "str", "bool", "NoneType",
            )
        ),
        *(f"datetime.{n}" for n in ("datetime", "date", "time", "timedelta", "timezone")),
        "decimal.Decimal",
        "fractions.Fraction",
        "uuid.UUID",
        "zoneinfo.ZoneInfo",
        *(f"collections.{n}" for n in ("OrderedDict", "Counter", "defaultdict", "deque")),
        *(
            f"{m}.{n}"
            for m in ("pathlib", "pathlib._local")
            for n in ("PurePath", "PurePosixPath", "PureWindowsPath", "Path", "PosixPath")
        ),
    }
)  # fmt: skip
#: Functions a data value's reduce may call (how jsonpickle stores a ZoneInfo).
DATA_FUNCTIONS = frozenset({"zoneinfo.ZoneInfo._unpickle"})

# Tags that build objects; a document without them is plain JSON data.
_OBJECT_TAGS = re.compile(r"py/(object|reduce|type|function|mod|repr|newobj|newargs|initargs)")


def _class_name(cls: type | str) -> str:
    if isinstance(cls, str):
        return cls
    if not isinstance(cls, type):
        raise TypeError(f"allow= takes classes or 'module.Class' names, not {cls!r}")
    from jsonpickle import util

    return util.importable_name(cls)


@dataclass(frozen=True)
class JsonCodec:
    """jsonpickle encoding with a trust policy: ``allow`` names the extra classes it builds."""

    trusted: bool = False
    allow: frozenset[str] = frozenset()

    def check(self, tag: str, name: Any) -> None:
        """FormatError unless this codec may build ``name`` for ``tag``."""
        if self.trusted:
            return
        if isinstance(name, str):
            if tag in ("py/object", "py/type") and (name in DATA_CLASSES or name in self.allow):
                return
            if tag == "py/function" and name in DATA_FUNCTIONS:
                return
        raise FormatError(
            f"refused to decode {tag} {name!r}: json dicts build data only (builtins, "
            f"datetime, decimal, uuid, numpy, pandas); allow the class with "
            f"serialization_format=json_format(allow=[...]) or, for a store you trust, "
            f"json_format(trusted=True)"
        )

    def dumps(self, value: Any) -> bytes:
        import jsonpickle

        text = jsonpickle.encode(value, indent=4, keys=True, context=self.pickler())
        if _OBJECT_TAGS.search(text):
            self._check_round_trip(value, text)
        return text.encode("utf-8")

    def loads(self, data: bytes) -> Any:
        return self.unpickler().restore(json.loads(data.decode("utf-8")))

    def check_bytes(self, data: bytes) -> None:
        """Valid JSON, and for an untrusted codec, data it would build (nothing runs)."""
        if self.trusted:
            json.loads(data.decode("utf-8"))  # building the value could run stored code
        else:
            self.loads(data)

    def pickler(self) -> Any:
        return _pickler_class()(self)

    def unpickler(self) -> Any:
        return _unpickler_class()(self)

    def _check_round_trip(self, value: Any, text: str) -> None:
        try:
            back = self.unpickler().restore(json.loads(text))
        except FormatError as exc:
            raise FormatError(f"format 'json' could not read this value back: {exc}") from exc
        problem = difference(value, back)
        if problem:
            raise FormatError(f"format 'json' cannot store this value exactly: {problem}")


@functools.cache
def _pickler_class() -> type:
    import jsonpickle
    from jsonpickle import util

    class DataPickler(jsonpickle.Pickler):
        """Refuses what jsonpickle would store as None or drop; numpy/pandas as data."""

        def __init__(self, codec: JsonCodec) -> None:
            super().__init__(keys=True, warn=True)
            self.codec = codec

        def fresh(self) -> DataPickler:
            return DataPickler(self.codec)

        def _pickle_warning(self, obj: Any) -> None:
            raise FormatError(f"format 'json' cannot store {type(obj).__name__} value {obj!r:.80}")

        def _flatten_obj_instance(self, obj: Any) -> Any:
            flatten = frames.flattener(obj)
            if flatten is not None:
                return flatten(self, obj)
            return super()._flatten_obj_instance(obj)

    def refusing_unencodable(flatten_pair: Callable) -> Callable:
        def checked(self: Any, k: Any, v: Any, data: dict) -> Any:
            if util.is_function(v) and not util.is_module_function(v):
                self._pickle_warning(v)
            return flatten_pair(self, k, v, data)

        return checked

    for name in (
        "_flatten_key_value_pair",
        "_flatten_string_key_value_pair",
        "_flatten_non_string_key_value_pair",
    ):
        setattr(DataPickler, name, refusing_unencodable(getattr(jsonpickle.Pickler, name)))
    return DataPickler


@functools.cache
def _unpickler_class() -> type:
    import jsonpickle
    from jsonpickle import tags
    from jsonpickle.unpickler import _Proxy

    class DataUnpickler(jsonpickle.Unpickler):
        """Checks every name against the codec before jsonpickle imports or calls it."""

        def __init__(self, codec: JsonCodec) -> None:
            super().__init__(keys=True, safe=True, on_missing="error")
            self.codec = codec

        def fresh(self) -> DataUnpickler:
            return DataUnpickler(self.codec)

        def _restore_object(self, obj: dict) -> Any:
            name = obj[tags.OBJECT]
            restore = frames.restorer(name) if isinstance(name, str) else None
            if restore is None:
                self.codec.check(tags.OBJECT, name)
                return super()._restore_object(obj)
            proxy = _Proxy()  # numbered as jsonpickle numbers objects, for py/id
            self._mkref(proxy)
            instance = restore(self, obj)
            proxy.reset(instance)
            self._swapref(proxy, instance)
            return instance

        def _restore_type(self, obj: dict) -> Any:
            self.codec.check(tags.TYPE, obj[tags.TYPE])
            return super()._restore_type(obj)

        def _restore_function(self, obj: dict) -> Any:
            self.codec.check(tags.FUNCTION, obj[tags.FUNCTION])
            return super()._restore_function(obj)

        def _restore_module(self, obj: dict) -> Any:
            self.codec.check(tags.MODULE, obj[tags.MODULE])
            return super()._restore_module(obj)

        def _restore_repr_safe(self, obj: dict) -> Any:
            self.codec.check(tags.REPR, obj[tags.REPR])
            return super()._restore_repr_safe(obj)

    return DataUnpickler


def difference(a: Any, b: Any, where: str = "value") -> str:
    """How ``b`` differs from ``a`` ('' if it is the same value, type for type)."""
    if a is b:
        return ""  # singletons such as pandas.NaT, which is not equal to itself
    if type(a) is not type(b):
        return f"{where} is a {type(a).__name__} but reads back as a {type(b).__name__}"
    import sys

    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(a, (pd.DataFrame, pd.Series, pd.Index)):
        return _pandas_difference(pd, a, b, where)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(a, np.ndarray):
        same = a.dtype == b.dtype and a.shape == b.shape and _array_equal(np, a, b)
        return "" if same else f"{where} (a {a.dtype} array of shape {a.shape}) reads back changed"
    if isinstance(a, dict):
        if a.keys() != b.keys():  # jsonpickle restores non-str keys last: order may differ
            return f"the keys of {where} read back changed"
        return _first(difference(v, b[k], f"{where}[{k!r}]") for k, v in a.items())
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{where} reads back with another length"
        return _first(
            difference(x, y, f"{where}[{i}]") for i, (x, y) in enumerate(zip(a, b, strict=True))
        )
    if isinstance(a, float) and math.isnan(a):
        return "" if math.isnan(b) else f"{where} reads back changed"
    try:
        same = bool(a == b)
    except Exception:  # an == that does not give a truth value: compare the state
        same = False
    if not same and type(a).__eq__ is object.__eq__ and hasattr(a, "__dict__"):
        same = vars(a) == vars(b)  # no value equality of its own: compare the state
    return "" if same else f"{where} ({type(a).__name__}) reads back changed"


def _first(problems: Iterable[str]) -> str:
    return next((p for p in problems if p), "")


def _array_equal(np: Any, a: Any, b: Any) -> bool:
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    if a.dtype.kind == "O":
        return not any(
            difference(x, y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True)
        )
    return bool(np.array_equal(a, b))


def _pandas_difference(pd: Any, a: Any, b: Any, where: str) -> str:
    check = {
        pd.DataFrame: pd.testing.assert_frame_equal,
        pd.Series: pd.testing.assert_series_equal,
    }.get(type(a))
    try:
        if check is not None:
            check(a, b, check_exact=True, check_index_type=True, check_freq=True)
            if isinstance(a, pd.DataFrame):
                pd.testing.assert_index_equal(a.columns, b.columns, exact=True)
        else:
            pd.testing.assert_index_equal(a, b, exact=True, check_exact=True)
    except AssertionError as exc:
        first = str(exc).strip().splitlines()[0]
        return f"{where} ({type(a).__name__}) reads back changed: {first}"
    return ""


def json_format(*, trusted: bool = False, allow: Iterable[type | str] = ()) -> Format:
    """The ``json`` format with a trust policy.

    Args:
        trusted: decode everything jsonpickle can, running the code a stored
            file names (``py/reduce`` of any importable callable). Only for
            stores whose every writer you trust.
        allow: classes (or ``"module.Class"`` names) to build besides the
            data types, e.g. your own dataclasses. Building one calls its
            ``__new__`` and ``__setstate__``, never other code.

    >>> from persidict import open_dict
    >>> d = open_dict("memory://json-demo", serialization_format=json_format(allow=[]))
    >>> d.serialization_format
    'json'
    """
    codec = JsonCodec(bool(trusted), frozenset(_class_name(c) for c in allow))
    return Format(
        "json", ".json", codec.dumps, codec.loads, codec.check_bytes, runs_stored_code=codec.trusted
    )

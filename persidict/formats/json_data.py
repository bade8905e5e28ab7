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

import collections
import datetime
import decimal
import fractions
import functools
import json
import math
import pathlib
import re
import sys
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from persidict.formats import frames
from persidict.formats.base import Format, FormatError
from persidict.formats.json_bounds import MAX_DIGITS, Budget, bounded_int, check_call
from persidict.safe_pickle import resolve

# The data classes' modules, imported here so that a document's names are
# found in them without importing anything while decoding.
_DATA_MODULES = (collections, datetime, decimal, fractions, pathlib, uuid, zoneinfo)

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
    """jsonpickle encoding with a trust policy: ``allow`` names the extra classes it builds.

    ``classes`` holds the allowed classes given as classes (by their names).
    """

    trusted: bool = False
    allow: frozenset[str] = frozenset()
    classes: Mapping[str, type] = field(default_factory=dict, compare=False, hash=False)

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
            f"refused to decode {tag} {name!r:.200}: json dicts build data only (builtins, "
            f"datetime, decimal, uuid, numpy, pandas); allow the class with "
            f"serialization_format=json_format(allow=[...]) or, for a store you trust, "
            f"json_format(trusted=True)"
        )

    def lookup(self, tag: str, name: Any) -> Any:
        """The allowed class or function ``name``, found without importing anything."""
        self.check(tag, name)
        found = self.classes.get(name) or _data_objects().get(name) or _imported(name)
        if found is None:
            raise FormatError(
                f"cannot decode {tag} {name!r}: its module is not imported in this process "
                "(a json dict never imports what a document names; import it first)"
            )
        return found

    def may_call(self, f: Any) -> bool:
        """Whether ``f`` is a data constructor or an allowed class (a document may call it)."""
        if id(f) in _data_ids() or any(f is c for c in self.classes.values()):
            return True
        return isinstance(f, type) and _qualified(f) in self.allow and _imported(_qualified(f)) is f

    def dumps(self, value: Any) -> bytes:
        import jsonpickle

        text = jsonpickle.encode(value, indent=4, keys=True, context=self.pickler())
        if _OBJECT_TAGS.search(text):
            self._check_round_trip(value, text)
        return text.encode("utf-8")

    def loads(self, data: bytes) -> Any:
        return self._restore(_parse(data.decode("utf-8")), len(data))

    def _restore(self, document: Any, size: int) -> Any:
        from jsonpickle.errors import ClassNotFoundError

        try:
            return self.unpickler(size).restore(document)
        except ClassNotFoundError as exc:  # a BaseException: it would pass every handler
            raise FormatError(f"cannot decode: {exc}") from None

    def check_bytes(self, data: bytes) -> None:
        """Valid JSON, and for an untrusted codec, data it would build (nothing runs)."""
        if self.trusted:
            _parse(data.decode("utf-8"))  # building the value could run stored code
        else:
            self.loads(data)

    def pickler(self) -> Any:
        return _pickler_class()(self)

    def unpickler(self, document_size: int) -> Any:
        """An unpickler for a document of ``document_size`` bytes (the budget's base)."""
        budget = Budget(document_size) if not self.trusted else Budget(1 << 62)
        return _unpickler_class()(self, budget)

    def _check_round_trip(self, value: Any, text: str) -> None:
        try:
            back = self._restore(_parse(text), len(text))
        except FormatError as exc:
            raise FormatError(f"format 'json' could not read this value back: {exc}") from exc
        problem = difference(value, back)
        if problem:
            raise FormatError(f"format 'json' cannot store this value exactly: {problem}")


def _parse(text: str) -> Any:
    """``json.loads``, with ints of at most MAX_DIGITS digits whatever the interpreter allows."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    if limit == 0 or limit > MAX_DIGITS:
        return json.loads(text, parse_int=bounded_int)
    return json.loads(text)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _imported(name: str) -> Any:
    """``module.qualname`` from a module already imported, else None (nothing is imported)."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        found = resolve(".".join(parts[:cut]), ".".join(parts[cut:]))
        if found is not None:
            return found
    return None


@functools.cache
def _data_ids() -> frozenset[int]:
    return frozenset(id(o) for o in _data_objects().values())


@functools.cache
def _data_objects() -> dict[str, Any]:
    """The data classes and functions by their names (their modules are imported above)."""
    objects: dict[str, Any] = {"builtins.NoneType": type(None)}
    for name in DATA_CLASSES:
        found = _imported(name)
        if isinstance(found, type):
            objects[name] = found
    for name in DATA_FUNCTIONS:
        owner, _, attr = name.rpartition(".")
        objects[name] = getattr(_imported(owner), attr)
    return objects


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
    from jsonpickle import tags, util
    from jsonpickle.unpickler import _Proxy

    class DataUnpickler(jsonpickle.Unpickler):
        """Checks every name against the codec, and every call, before anything is built.

        Untrusted, names are looked up as strings (:meth:`JsonCodec.lookup`)
        and nothing is imported; constructors get checked arguments
        (:func:`json_bounds.check_call`) and what is built is charged to the
        decoding's budget.
        """

        def __init__(self, codec: JsonCodec, budget: Budget) -> None:
            super().__init__(keys=True, safe=True, on_missing="error")
            self.codec = codec
            self.budget = budget

        def fresh(self) -> DataUnpickler:
            return DataUnpickler(self.codec, self.budget)

        def _built(self, build: Callable[[], Any]) -> Any:
            proxy = _Proxy()  # numbered as jsonpickle numbers objects, for py/id
            self._mkref(proxy)
            instance = build()
            proxy.reset(instance)
            self._swapref(proxy, instance)
            return instance

        def _restore_object(self, obj: dict) -> Any:
            name = obj[tags.OBJECT]
            restore = frames.restorer(name) if isinstance(name, str) else None
            if restore is not None:
                return self._built(lambda: restore(self, obj))
            if self.codec.trusted:
                return super()._restore_object(obj)
            cls = self.codec.lookup(tags.OBJECT, name)
            if name in _DATETIMES:
                return self._built(lambda: self._restore_datetime(obj, cls))
            if name == "uuid.UUID":  # as jsonpickle's handler writes it
                hex_ = obj.get("hex")
                if not (isinstance(hex_, str) and len(hex_) <= 64):
                    raise FormatError("refused a UUID not given as hex")
                return self._built(lambda: uuid.UUID(hex=hex_))
            if name in DATA_CLASSES:
                args = obj.get(tags.NEWARGS, obj.get(tags.INITARGS, {tags.TUPLE: []}))
                args = args.get(tags.TUPLE) if isinstance(args, dict) else args
                if tags.NEWARGSEX in obj or not _scalars(args):
                    raise FormatError(
                        f"refused to decode {name} from arguments other than numbers and text"
                    )
                check_call(cls, tuple(args or ()), self.budget)
            return self._restore_object_instance(obj, cls, name)

        def _restore_datetime(self, obj: dict, cls: type) -> Any:
            reduced = obj.get("__reduce__")
            if not (
                isinstance(reduced, list)
                and len(reduced) == 2
                and isinstance(reduced[1], list)
                and 1 <= len(reduced[1]) <= 2
                and isinstance(reduced[1][0], str)
                and len(reduced[1][0]) <= 16
                and self._restore(reduced[0]) is cls
            ):
                raise FormatError(
                    f"refused to decode a {cls.__name__} not written as jsonpickle writes it"
                )
            return cls(util.b64decode(reduced[1][0]), *(self._restore(x) for x in reduced[1][1:]))

        def _restore_reduce(self, obj: dict) -> Any:
            if self.codec.trusted:
                return super()._restore_reduce(obj)
            parts = obj[tags.REDUCE]
            if not isinstance(parts, list) or not 2 <= len(parts) <= 5:
                raise FormatError(f"refused a py/reduce of {type(parts).__name__} {parts!r:.60}")
            return self._built(lambda: self._call(*parts, *[None] * (5 - len(parts))))

        def _call(self, f: Any, args: Any, state: Any, listitems: Any, dictitems: Any) -> Any:
            f, args = self._restore(f), self._restore(args)
            state, listitems, dictitems = map(self._restore, (state, listitems, dictitems))
            if not (self.codec.may_call(f) and isinstance(args, tuple)):
                raise FormatError(f"refused to call {f!r:.60} from a json document")
            check_call(f, args, self.budget)
            value = f(*args)
            if state is not None:
                if type(value) not in self.codec.classes.values():
                    raise FormatError(f"refused to set the state of a {type(value).__name__}")
                setstate = getattr(value, "__setstate__", None)
                setstate(state) if setstate is not None else vars(value).update(state)
            for items in (listitems, dictitems):
                if items is not None and not isinstance(items, (list, tuple)):
                    raise FormatError("refused items that are not a list")
            if listitems:
                self.budget.charge(8 * len(listitems), type(value).__name__)
                value.extend(listitems)
            if dictitems:
                self.budget.charge(8 * len(dictitems), type(value).__name__)
                for k, v in dictitems:
                    value[k] = v
            return value

        def _restore_type(self, obj: dict) -> Any:
            if self.codec.trusted:
                return super()._restore_type(obj)
            return self.codec.lookup(tags.TYPE, obj[tags.TYPE])

        def _restore_function(self, obj: dict) -> Any:
            if self.codec.trusted:
                return super()._restore_function(obj)
            return self.codec.lookup(tags.FUNCTION, obj[tags.FUNCTION])

        def _restore_module(self, obj: dict) -> Any:
            self.codec.check(tags.MODULE, obj[tags.MODULE])
            return super()._restore_module(obj)

        def _restore_repr_safe(self, obj: dict) -> Any:
            self.codec.check(tags.REPR, obj[tags.REPR])
            return super()._restore_repr_safe(obj)

    return DataUnpickler


_DATETIMES = frozenset({"datetime.datetime", "datetime.date", "datetime.time"})


def _scalars(args: Any) -> bool:
    return isinstance(args, list) and all(
        a is None or isinstance(a, (str, int, float)) for a in args
    )


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
    allow = list(allow)
    classes = {_class_name(c): c for c in allow if isinstance(c, type)}
    codec = JsonCodec(bool(trusted), frozenset(_class_name(c) for c in allow), classes)
    return Format(
        "json", ".json", codec.dumps, codec.loads, codec.check_bytes, runs_stored_code=codec.trusted
    )

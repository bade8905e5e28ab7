"""numpy values in the json format: jsonpickle's encoding, read back bounded and by name.

Writing uses jsonpickle's numpy handlers (small arrays as readable numbers,
big ones as zlib-compressed base64), except that an array compressing beyond
what a reader accepts (``MAX_EXPANSION``) is written in zlib's stored
blocks, uncompressed. Reading
matches the stored ``py/object`` name as a string against :data:`NAMES`
(nothing the document names is imported), checks the dtype, the shape and
the decoded size against the decoding's budget before anything is made,
and never builds Python objects out of raw bytes.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from typing import Any

from persidict.formats.base import FormatError
from persidict.formats.json_bounds import MAX_EXPANSION, MAX_ITEMSIZE

OBJECT = "py/object"
_SCALARS = (  # noqa: SIM905 (two lines of names read better than a column)
    "bool bool_ bytes_ str_ void object_ datetime64 timedelta64 int8 int16 int32 int64 uint8 "
    "uint16 uint32 uint64 longlong ulonglong intc uintc int_ uint float16 float32 float64 "
    "longdouble float128 complex64 complex128 clongdouble complex256 float_ complex_ unicode_ "
    "string_"
).split()
_DTYPES = (  # noqa: SIM905
    "Bool Byte Bytes CLongDouble Complex128 Complex64 DateTime64 Float16 Float32 Float64 Int16 "
    "Int32 Int64 Int8 Int Long LongDouble LongLong Object Short Str String TimeDelta64 UByte "
    "UInt16 UInt32 UInt64 UInt8 UInt ULong ULongLong UShort Void"
).split()
#: Every ``py/object`` name of numpy data the json format reads, and what it is.
NAMES: dict[str, str] = {
    "numpy.ndarray": "array",
    "numpy.dtype": "dtype",
    **{f"numpy.{n}": "scalar" for n in _SCALARS},
    **{f"numpy.dtypes.{n}DType": "dtype" for n in _DTYPES},
}


def _checked_dtype(handler: Any, data: dict) -> Any:
    """The dtype a stored array or scalar names, refused if its items are huge."""
    text = data.get("dtype")
    if not isinstance(text, str) or len(text) > 4096:
        raise ValueError("a numpy dtype must be given as a short string")
    dtype = handler.restore_dtype(data)
    if dtype.itemsize > MAX_ITEMSIZE:
        raise FormatError(
            f"refused a dtype of {dtype.itemsize:,}-byte items (over {MAX_ITEMSIZE:,})"
        )
    return dtype


def _checked_count(shape: Any) -> int:
    """The number of items of ``shape`` (0 when absent: counted from the values)."""
    if shape is None:
        return 0
    if not isinstance(shape, list) or len(shape) > 64:
        raise ValueError(f"an array's shape must be a list of at most 64 sizes, not {shape!r:.40}")
    count = 1
    for n in shape:
        if type(n) is not int or n < 0:
            raise ValueError(f"an array's shape must hold sizes, not {n!r:.40}")
        count *= n
    return count


def _leaves(values: list, depth: int = 0) -> int:
    """How many numbers a nested list of an array's values holds."""
    if depth > 64:
        raise ValueError("an array's values are nested deeper than 64 dimensions")
    return sum(_leaves(v, depth + 1) if isinstance(v, list) else 1 for v in values)


class _Stored:
    """zlib without compression: what a reader inflates is never more than what it reads."""

    @staticmethod
    def compress(data: bytes) -> bytes:
        return zlib.compress(data, 0)


class _Inflate:
    """jsonpickle's compression hook: zlib, bounded by the decoding's budget."""

    def __init__(self, budget: Any) -> None:
        self.budget = budget

    def decompress(self, data: bytes) -> bytes:
        out = self.budget.inflate(data, "an array's compressed bytes")
        self.budget.charge(len(out), "the array copied out of its bytes")
        return out


@functools.cache
def _handlers() -> dict[str, type]:
    import numpy as np
    from jsonpickle.ext import numpy as jnp

    class ArrayHandler(jnp.NumpyNDArrayHandlerView):
        """jsonpickle's handler, bounded, minus building Python objects out of raw memory.

        An array of (or with fields of) dtype object made from stored bytes, or
        viewing another array's memory, would turn stored numbers into object
        pointers: a crash at best.
        """

        def flatten(self, obj: Any, data: dict) -> Any:
            flat = super().flatten(obj, dict(data))
            values = flat.get("values")
            if isinstance(values, str) and obj.nbytes > MAX_EXPANSION * len(values):
                # Compressed beyond what a reader accepts from a document: zlib's
                # stored blocks instead (4/3 of the bytes in base64, read by any zlib).
                self.compression: Any = _Stored
                flat = super().flatten(obj, dict(data))
            return flat

        def restore(self, data: dict) -> Any:
            budget = self.context.budget
            dtype = _checked_dtype(self, data)
            count = _checked_count(data.get("shape"))
            base, values = data.get("base"), data.get("values")
            if base is None and isinstance(values, list):
                count = max(count, _leaves(values))
            budget.charge(count * dtype.itemsize, f"an array of {count:,} {dtype} items")
            if base is None:
                raw = not isinstance(values, list)
                if raw and dtype.hasobject and dtype.kind != "O":  # plain object: JSON values
                    raise ValueError(f"refused an array of dtype {dtype} from raw bytes")
                self.compression = _Inflate(budget)
                return super().restore(data)
            base = self.context.restore(base, reset=False)
            if not isinstance(base, np.ndarray):
                base = np.array(base)
            if dtype.hasobject or base.dtype.hasobject:
                raise ValueError("refused an array of Python objects viewing another array")
            arr = np.ndarray(
                buffer=base.data,
                dtype=dtype.newbyteorder(data.get("byteorder", "|")),
                shape=data.get("shape"),  # type: ignore[arg-type]
                offset=data.get("offset", 0),
                strides=data.get("strides"),
            )
            self.restore_flags(data, arr)
            return arr

    class ScalarHandler(jnp.NumpyGenericHandler):
        """A numpy scalar: its dtype checked, never a size given as its value."""

        def restore(self, data: dict) -> Any:
            dtype = _checked_dtype(self, data)
            value = self.context.restore(data.get("value"), reset=False)
            if dtype.kind in "VSU" and isinstance(value, int):
                raise FormatError(f"refused a numpy {dtype} scalar made from a size ({value})")
            self.context.budget.charge(dtype.itemsize, f"a numpy {dtype} scalar")
            if dtype.kind == "M" and data["dtype"].endswith("[ns]"):
                return dtype.type(value, "ns")  # as jsonpickle writes nanosecond times
            return dtype.type(value)

    class DTypeHandler(jnp.NumpyDTypeHandler):
        def restore(self, data: dict) -> Any:
            return _checked_dtype(self, data)

    return {"array": ArrayHandler, "scalar": ScalarHandler, "dtype": DTypeHandler}


def _writer(obj: Any) -> Any:
    import numpy as np
    from jsonpickle.ext import numpy as jnp

    if isinstance(obj, np.ndarray):
        return _handlers()["array"](size_threshold=16)
    if isinstance(obj, np.datetime64):
        return jnp.NumpyDatetimeHandler(None)
    if isinstance(obj, np.generic):
        return jnp.NumpyGenericHandler(None)
    return jnp.NumpyDTypeHandler(None)


def flatten(ctx: Any, obj: Any) -> dict:
    """The json form of a numpy array, scalar or dtype."""
    from jsonpickle import util

    handler = _writer(obj)
    handler.context = ctx
    return handler.flatten(obj, {OBJECT: util.importable_name(type(obj))})


def restorer(name: str) -> Callable[[Any, dict], Any] | None:
    """How to read the numpy value named ``name`` (one of :data:`NAMES`), else None."""
    kind = NAMES.get(name)
    if kind is None:
        return None

    def restore(ctx: Any, data: dict) -> Any:
        handler = (
            _handlers()[kind](None) if kind != "array" else _handlers()[kind](size_threshold=16)
        )
        handler.context = ctx
        return handler.restore(data)

    return restore

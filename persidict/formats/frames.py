"""numpy and pandas values in the json format, as data.

numpy values use jsonpickle's own numpy encoding (small arrays as readable
numbers: ``{"py/object": "numpy.ndarray", "dtype": "float64", "values":
[...]}``; big ones as compressed base64). pandas values use an exact
encoding of our own under the public names (``pandas.DataFrame``,
``pandas.Series``, ``pandas.Index``, ``pandas.Timestamp``, ...): every
index and column keeps its type, dtype, names and frequency. Values that
persidict 0.309.0 wrote with jsonpickle's pandas handlers (class names such
as ``pandas.core.frame.DataFrame``) are read as those handlers would read
them, but without running anything stored.

Nothing here is registered with jsonpickle: the json format's own pickler and
unpickler call :func:`flattener` and :func:`restorer`, so a user's own
jsonpickle calls are left as they were. Nested parts are flattened and
restored by fresh instances of the calling pickler/unpickler, which apply
the same trust rules.
"""

from __future__ import annotations

import functools
import json
import sys
import zlib
from collections.abc import Callable
from typing import Any

Flatten = Callable[[Any, Any], dict]
Restore = Callable[[Any, dict], Any]
OBJECT = "py/object"


# ---- helpers: nested parts through fresh pickler/unpickler instances of the same trust


def _flat(ctx: Any, value: Any) -> Any:
    return ctx.fresh().flatten(value)


def _unflat(ctx: Any, data: Any) -> Any:
    return ctx.fresh().restore(data)


def _decode_text(ctx: Any, text: str) -> Any:
    return _unflat(ctx, json.loads(text))


# ---- numpy: jsonpickle's handlers, which restore nested values through the context


@functools.cache
def _array_handler_class() -> type:
    import numpy as np
    from jsonpickle.ext import numpy as jnp

    class ArrayHandler(jnp.NumpyNDArrayHandlerView):
        """jsonpickle's handler, minus building Python objects out of raw memory.

        An array of (or with fields of) dtype object made from stored bytes, or
        viewing another array's memory, would turn stored numbers into object
        pointers: a crash at best.
        """

        def restore(self, data: dict) -> Any:
            dtype = self.restore_dtype(data)
            base = data.get("base")
            if base is None:
                raw = not isinstance(data.get("values"), list)
                if raw and dtype.hasobject and dtype.kind != "O":  # plain object: JSON values
                    raise ValueError(f"refused an array of dtype {dtype} from raw bytes")
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

    return ArrayHandler


def _numpy_handler(cls: type) -> Any:
    import numpy as np
    from jsonpickle.ext import numpy as jnp

    if issubclass(cls, np.ndarray):
        return _array_handler_class()(size_threshold=16)
    if issubclass(cls, np.datetime64):
        return jnp.NumpyDatetimeHandler(None)
    if issubclass(cls, np.generic):
        return jnp.NumpyGenericHandler(None)
    if issubclass(cls, np.dtype):
        return jnp.NumpyDTypeHandler(None)
    return None


def _flatten_numpy(ctx: Any, obj: Any) -> dict:
    from jsonpickle import util

    handler = _numpy_handler(type(obj))
    handler.context = ctx
    return handler.flatten(obj, {OBJECT: util.importable_name(type(obj))})


def _restore_numpy(cls: type) -> Restore | None:
    if not isinstance(cls, type) or _numpy_handler(cls) is None:
        return None

    def restore(ctx: Any, data: dict) -> Any:
        handler = _numpy_handler(cls)
        handler.context = ctx
        return handler.restore(data)

    return restore


# ---- pandas: our exact encoding


def _flat_values(ctx: Any, obj: Any) -> Any:
    """A column or index level (Series or Index): an ndarray, or a dict for extension dtypes."""
    import numpy as np
    import pandas as pd

    dtype = obj.dtype
    if isinstance(dtype, np.dtype):
        arr = np.asarray(obj)
        # A column is often a view into a 2-D block: written as it stands, the
        # whole block would be stored with each column.
        return _flat(ctx, arr.copy() if arr.base is not None else arr)
    arr = obj.array
    if isinstance(dtype, pd.CategoricalDtype):
        return {
            "dtype": "category",
            "ordered": bool(dtype.ordered),
            "categories": _flat_index(ctx, dtype.categories),
            "codes": _flat(ctx, np.asarray(arr.codes)),
        }
    if isinstance(dtype, pd.DatetimeTZDtype):
        utc = pd.DatetimeIndex(arr).tz_convert("UTC").tz_localize(None)
        return {"dtype": str(dtype), "tz": _flat(ctx, dtype.tz), "utc": _flat(ctx, np.asarray(utc))}
    na = np.asarray(pd.isna(arr))
    out = {
        "dtype": str(dtype),
        "values": _flat(ctx, [None if missing else v for v, missing in zip(arr, na, strict=True)]),
    }
    if na.any():
        out["na"] = np.flatnonzero(na).tolist()
    return out


def _restore_values(ctx: Any, data: Any) -> Any:
    import pandas as pd

    if OBJECT in data:  # an ndarray
        return _unflat(ctx, data)
    dtype = data["dtype"]
    if dtype == "category":
        categories = _restore_index(ctx, data["categories"])
        kind = pd.CategoricalDtype(categories, ordered=data["ordered"])
        return pd.Categorical.from_codes(_unflat(ctx, data["codes"]), dtype=kind)
    if "utc" in data:
        utc = pd.DatetimeIndex(_unflat(ctx, data["utc"])).tz_localize("UTC")
        return utc.tz_convert(_unflat(ctx, data["tz"])).array
    kind = pd.api.types.pandas_dtype(dtype)
    values = _unflat(ctx, data["values"])
    for i in data.get("na", ()):
        values[i] = kind.na_value
    return pd.array(values, dtype=kind)


def _flat_index(ctx: Any, idx: Any) -> dict:
    import numpy as np
    import pandas as pd

    if isinstance(idx, pd.MultiIndex):
        return {
            "kind": "multi",
            "names": _flat(ctx, list(idx.names)),
            "levels": [_flat_index(ctx, level) for level in idx.levels],
            "codes": [_flat(ctx, np.asarray(c)) for c in idx.codes],
        }
    if isinstance(idx, pd.RangeIndex):
        return {
            "kind": "range",
            "name": _flat(ctx, idx.name),
            "range": [idx.start, idx.stop, idx.step],
        }
    out = {"name": _flat(ctx, idx.name), "values": _flat_values(ctx, idx)}
    if isinstance(idx, (pd.DatetimeIndex, pd.TimedeltaIndex)) and idx.freq is not None:
        out["freq"] = idx.freqstr
    return out


def _restore_index(ctx: Any, data: dict) -> Any:
    import pandas as pd

    kind = data.get("kind")
    if kind == "multi":
        return pd.MultiIndex(
            levels=[_restore_index(ctx, level) for level in data["levels"]],
            codes=[_unflat(ctx, c) for c in data["codes"]],
            names=_unflat(ctx, data["names"]),
            verify_integrity=True,  # stored codes out of range would read outside the levels
        )
    name = _unflat(ctx, data["name"])
    if kind == "range":
        return pd.RangeIndex(*data["range"], name=name)
    values = _restore_values(ctx, data["values"])
    idx = pd.Index(values, dtype=values.dtype, name=name, copy=False)
    if "freq" in data:
        idx = type(idx)(idx, freq=data["freq"])
    return idx


def _flatten_frame(ctx: Any, df: Any) -> dict:
    return {
        OBJECT: "pandas.DataFrame",
        "index": _flat_index(ctx, df.index),
        "columns": _flat_index(ctx, df.columns),
        "data": [_flat_values(ctx, df.iloc[:, i]) for i in range(df.shape[1])],
    }


def _series(values: Any, index: Any, name: Any) -> Any:
    import pandas as pd

    return pd.Series(values, index=index, name=name, dtype=values.dtype, copy=False)


def _restore_frame(ctx: Any, data: dict) -> Any:
    import pandas as pd

    index = _restore_index(ctx, data["index"])
    columns = _restore_index(ctx, data["columns"])
    cols = [_series(_restore_values(ctx, c), index, None) for c in data["data"]]
    df = pd.DataFrame(dict(enumerate(cols)), index=index) if cols else pd.DataFrame(index=index)
    df.columns = columns
    return df


def _flatten_series(ctx: Any, s: Any) -> dict:
    return {
        OBJECT: "pandas.Series",
        "name": _flat(ctx, s.name),
        "index": _flat_index(ctx, s.index),
        "values": _flat_values(ctx, s),
    }


def _restore_series(ctx: Any, data: dict) -> Any:
    name = _unflat(ctx, data["name"])
    index = _restore_index(ctx, data["index"])
    return _series(_restore_values(ctx, data["values"]), index, name)


def _flatten_index_value(ctx: Any, idx: Any) -> dict:
    return {OBJECT: "pandas.Index", **_flat_index(ctx, idx)}


def _flatten_timestamp(ctx: Any, ts: Any) -> dict:
    return {
        OBJECT: "pandas.Timestamp",
        "iso": ts.isoformat(),
        "unit": ts.unit,
        "tz": _flat(ctx, ts.tzinfo),
    }


def _restore_timestamp(ctx: Any, data: dict) -> Any:
    import pandas as pd

    ts = pd.Timestamp(data["iso"])
    tz = _unflat(ctx, data["tz"])
    if tz is not None:
        ts = ts.tz_convert(tz)
    return ts.as_unit(data["unit"])


def _flatten_timedelta(ctx: Any, td: Any) -> dict:
    return {OBJECT: "pandas.Timedelta", "iso": td.isoformat(), "unit": td.unit}


def _restore_timedelta(ctx: Any, data: dict) -> Any:
    import pandas as pd

    return pd.Timedelta(data["iso"]).as_unit(data["unit"])


def _flatten_period(ctx: Any, p: Any) -> dict:
    return {OBJECT: "pandas.Period", "value": str(p), "freq": p.freqstr}


def _restore_period(ctx: Any, data: dict) -> Any:
    import pandas as pd

    return pd.Period(data["value"], freq=data["freq"])


def _flatten_interval(ctx: Any, iv: Any) -> dict:
    return {
        OBJECT: "pandas.Interval",
        "left": _flat(ctx, iv.left),
        "right": _flat(ctx, iv.right),
        "closed": iv.closed,
    }


def _restore_interval(ctx: Any, data: dict) -> Any:
    import pandas as pd

    left, right = _unflat(ctx, data["left"]), _unflat(ctx, data["right"])
    return pd.Interval(left, right, closed=str(data["closed"]))


def _restore_nat(ctx: Any, data: dict) -> Any:
    import pandas as pd

    return pd.NaT


def _restore_na(ctx: Any, data: dict) -> Any:
    import pandas as pd

    return pd.NA


_OURS: dict[str, Restore] = {
    "pandas.DataFrame": _restore_frame,
    "pandas.Series": _restore_series,
    "pandas.Index": _restore_index,
    "pandas.Timestamp": _restore_timestamp,
    "pandas.Timedelta": _restore_timedelta,
    "pandas.Period": _restore_period,
    "pandas.Interval": _restore_interval,
    "pandas.NaT": _restore_nat,
    "pandas.NA": _restore_na,
}


def _pandas_flattener(obj: Any) -> Flatten | None:
    import pandas as pd

    for cls, flatten in (
        (pd.DataFrame, _flatten_frame),
        (pd.Series, _flatten_series),
        (pd.Index, _flatten_index_value),
        (pd.Timestamp, _flatten_timestamp),
        (pd.Timedelta, _flatten_timedelta),
        (pd.Period, _flatten_period),
        (pd.Interval, _flatten_interval),
    ):
        if isinstance(obj, cls):
            return flatten
    if obj is pd.NaT:
        return lambda ctx, obj: {OBJECT: "pandas.NaT"}
    if obj is pd.NA:
        return lambda ctx, obj: {OBJECT: "pandas.NA"}
    return None


# ---- pandas as persidict 0.309.0 wrote it (jsonpickle's pandas handlers), read as data


def _upstream_text(data: dict) -> tuple[str, dict]:
    values = data["values"]
    if not data.get("txt", True):
        from jsonpickle.util import b64decode

        raw = b64decode(values)
        values = (zlib.decompress(raw) if data.get("comp", False) else raw).decode()
    return values, data.get("meta") or {}


def _upstream_frame(ctx: Any, data: dict) -> Any:
    import pandas as pd

    text, meta = _upstream_text(data)
    if "dtypes_rle" not in meta:
        raise ValueError("a DataFrame in jsonpickle's pre-3.4 csv encoding is not supported")
    data_columns = _decode_text(ctx, text)
    codes = [code for code, count in meta["dtypes_rle"] for _ in range(count)]
    columns = _decode_text(ctx, meta["columns"])
    if meta.get("is_multicolumns", False):
        columns = pd.MultiIndex.from_tuples(columns, names=meta.get("column_names"))
    # jsonpickle's dtype codes (pd/i, pd/f64, ...) are generated from a set's
    # order, so they differ between processes: dtypes come from the values.
    frame = {}
    for col, code in zip(columns, codes, strict=False):  # as jsonpickle reads it
        items = data_columns[col]
        frame[col] = [_decode_text(ctx, i) for i in items] if code == "py/jp" else items
    df = pd.DataFrame(frame)
    df.columns = columns
    index = _decode_text(ctx, meta["index"])
    if meta.get("is_multiindex", False):
        df.index = pd.MultiIndex.from_tuples(index, names=meta.get("index_names"))
    else:
        df.index = pd.Index(index, name=meta.get("index_names"))
    if "column_names" in meta:
        if meta.get("is_multicolumns", False):
            df.columns.names = meta["column_names"]
        else:
            df.columns.name = meta["column_names"]
    return df


def _upstream_series(ctx: Any, data: dict) -> Any:
    import pandas as pd

    index = ctx.restore(data["index"], reset=False)
    values = ctx.restore(data["values"], reset=False)
    return pd.Series(values, index=index, name=data["name"])


def _upstream_index(constructor: Callable) -> Restore:
    def restore(ctx: Any, data: dict) -> Any:
        text, meta = _upstream_text(data)
        names = {
            k: (tuple(v) if v is not None else v) for k, v in meta.items() if k in ("name", "names")
        }
        return constructor(_decode_text(ctx, text), dtype=meta.get("dtype"), **names)

    return restore


def _upstream_scalar(ctx: Any, data: dict, *, cls: type) -> Any:
    import pandas as pd

    _, meta = _upstream_text(data)
    if cls is pd.Timestamp:
        return pd.Timestamp(meta["isoformat"])
    if cls is pd.Period:
        return pd.Period(_decode_text(ctx, meta["start_time"]), meta["freqstr"])
    left, right = _decode_text(ctx, meta["left"]), _decode_text(ctx, meta["right"])
    return pd.Interval(left, right, closed=str(meta["closed"]))


def _restore_upstream_pandas(cls: Any) -> Restore | None:
    import pandas as pd

    if not isinstance(cls, type):
        return None
    if issubclass(cls, pd.DataFrame):
        return _upstream_frame
    if issubclass(cls, pd.Series):
        return _upstream_series
    for index_cls in (pd.MultiIndex, pd.PeriodIndex, pd.Index):
        if issubclass(cls, index_cls):
            ctor = pd.Index if index_cls is pd.Index else index_cls
            return _upstream_index(ctor)
    for scalar in (pd.Timestamp, pd.Period, pd.Interval):
        if issubclass(cls, scalar):
            return functools.partial(_upstream_scalar, cls=scalar)
    return None


# ---- entry points for the json format's pickler and unpickler


def flattener(obj: Any) -> Flatten | None:
    """How to write ``obj`` if it is a numpy or pandas value, else None.

    Looks only at modules already imported: an object of a module not
    imported yet cannot exist.
    """
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, (np.ndarray, np.generic, np.dtype)):
        if type(obj) is np.ndarray or not isinstance(obj, np.ndarray):
            return _flatten_numpy
        return None  # ndarray subclasses (matrix, masked): not data we can rebuild exactly
    if "pandas" in sys.modules:
        return _pandas_flattener(obj)
    return None


def restorer(name: str) -> Restore | None:
    """How to read a ``py/object`` named ``name`` if it is numpy or pandas data, else None.

    Only names under ``numpy.`` and ``pandas.`` are looked up (importing
    submodules of those packages), and only their data classes qualify.
    """
    root = name.partition(".")[0]
    if root not in ("numpy", "pandas"):
        return None
    from jsonpickle.unpickler import loadclass

    from persidict.formats.base import require

    require((root,), root, f"a {root} value in json")
    cls = loadclass(name)
    if root == "numpy":
        return _restore_numpy(cls)
    upstream = _restore_upstream_pandas(cls)
    ours = _OURS.get(name)
    if ours is None or upstream is None:
        return ours or upstream

    def restore(ctx: Any, data: dict) -> Any:
        return (ours if _is_ours(data) else upstream)(ctx, data)

    return restore


def _is_ours(data: dict) -> bool:
    # With pandas 3 jsonpickle's handlers write the same public names
    # (pandas.DataFrame): theirs carry "meta", or a Series' index as an object.
    index = data.get("index")
    return "meta" not in data and not (isinstance(index, dict) and OBJECT in index)

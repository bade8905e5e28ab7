"""numpy and pandas values in the json format, as data.

numpy values use jsonpickle's own numpy encoding (``persidict.formats.numpy_json``:
small arrays as readable numbers: ``{"py/object": "numpy.ndarray", "dtype":
"float64", "values": [...]}``; big ones as compressed base64). pandas values use an exact
encoding of our own under the public names (``pandas.DataFrame``,
``pandas.Series``, ``pandas.Index``, ``pandas.Timestamp``, ...): every
index and column keeps its type, dtype, names and frequency. Values that
persidict 0.309.0 wrote with jsonpickle's pandas handlers (class names such
as ``pandas.core.frame.DataFrame``) are read as those handlers would read
them, but without running anything stored. Names are matched as strings
(:func:`restorer`): a name the document gives is never imported.

Nothing here is registered with jsonpickle: the json format's own pickler and
unpickler call :func:`flattener` and :func:`restorer`, so a user's own
jsonpickle calls are left as they were. Nested parts are flattened and
restored by fresh instances of the calling pickler/unpickler, which apply
the same trust rules.
"""

from __future__ import annotations

import functools
import itertools
import json
import sys
from collections.abc import Callable
from typing import Any

from persidict.formats import numpy_json
from persidict.formats.base import FormatError, require
from persidict.formats.json_bounds import MAX_ITEMSIZE

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


def _checked_dtype(ctx: Any, name: Any, count: int) -> Any:
    """The pandas dtype ``name``, its ``count`` items charged to the decoding's budget."""
    import pandas as pd

    if name is None:
        return None
    if not isinstance(name, str) or len(name) > 4096:
        raise ValueError("a pandas dtype must be given as a short string")
    kind = pd.api.types.pandas_dtype(name)
    itemsize = getattr(kind, "itemsize", 8)
    if itemsize > MAX_ITEMSIZE:
        raise FormatError(f"refused a dtype of {itemsize:,}-byte items (over {MAX_ITEMSIZE:,})")
    ctx.budget.charge(count * itemsize, f"{count:,} values of dtype {kind}")
    return kind


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
    values = _unflat(ctx, data["values"])
    kind = _checked_dtype(ctx, dtype, len(values))
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
        bounds = data["range"]
        if not (isinstance(bounds, list) and all(type(n) is int for n in bounds)):
            raise ValueError(f"a RangeIndex is given by ints, not {bounds!r:.40}")
        ctx.budget.charge(8 * len(range(*bounds)), "a RangeIndex")
        return pd.RangeIndex(*bounds, name=name)
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


def _upstream_text(ctx: Any, data: dict) -> tuple[str, dict]:
    values = data["values"]
    if not data.get("txt", True):
        from jsonpickle.util import b64decode

        raw = b64decode(values)
        if data.get("comp", False):
            raw = ctx.budget.inflate(raw, "a compressed pandas value")
        values = raw.decode()
    return values, data.get("meta") or {}


def _upstream_frame(ctx: Any, data: dict) -> Any:
    import pandas as pd

    text, meta = _upstream_text(ctx, data)
    if "dtypes_rle" not in meta:
        raise ValueError("a DataFrame in jsonpickle's pre-3.4 csv encoding is not supported")
    data_columns = _decode_text(ctx, text)
    # Expanded lazily: only as many codes as there are columns (a count of 10**12 costs nothing).
    codes = itertools.chain.from_iterable(
        itertools.repeat(code, count) for code, count in meta["dtypes_rle"]
    )
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
        text, meta = _upstream_text(ctx, data)
        names = {
            k: (tuple(v) if v is not None else v) for k, v in meta.items() if k in ("name", "names")
        }
        values = _decode_text(ctx, text)
        dtype = _checked_dtype(
            ctx, meta.get("dtype"), len(values) if isinstance(values, list) else 1
        )
        return constructor(values, dtype=dtype, **names)

    return restore


def _upstream_scalar(ctx: Any, data: dict, *, cls: type) -> Any:
    import pandas as pd

    _, meta = _upstream_text(ctx, data)
    if cls is pd.Timestamp:
        return pd.Timestamp(meta["isoformat"])
    if cls is pd.Period:
        return pd.Period(_decode_text(ctx, meta["start_time"]), meta["freqstr"])
    left, right = _decode_text(ctx, meta["left"]), _decode_text(ctx, meta["right"])
    return pd.Interval(left, right, closed=str(meta["closed"]))


def _upstream_restorer(kind: str) -> Restore | None:
    import pandas as pd

    if kind in ("frame", "series"):
        return _upstream_frame if kind == "frame" else _upstream_series
    if kind == "multi":
        return _upstream_index(pd.MultiIndex)
    if kind == "period_index":
        return _upstream_index(pd.PeriodIndex)
    if kind == "index":
        return _upstream_index(pd.Index)
    if kind in ("Timestamp", "Period", "Interval"):
        return functools.partial(_upstream_scalar, cls=getattr(pd, kind))
    return None


# Every pandas py/object name the json format reads (ours, and what jsonpickle's
# handlers wrote under pandas 2 and 3), with the kind of value it is.
_PANDAS_NAMES: dict[str, str] = {
    **{n: "frame" for n in ("pandas.DataFrame", "pandas.core.frame.DataFrame")},
    **{n: "series" for n in ("pandas.Series", "pandas.core.series.Series")},
    **{n: "multi" for n in ("pandas.MultiIndex", "pandas.core.indexes.multi.MultiIndex")},
    **{n: "period_index" for n in ("pandas.PeriodIndex", "pandas.core.indexes.period.PeriodIndex")},
    **{
        f"pandas.{cls}" if not module else f"pandas.core.indexes.{module}.{cls}": "index"
        for cls, module in (
            ("Index", ""), ("Index", "base"), ("RangeIndex", ""), ("RangeIndex", "range"),
            ("DatetimeIndex", ""), ("DatetimeIndex", "datetimes"), ("TimedeltaIndex", ""),
            ("TimedeltaIndex", "timedeltas"), ("CategoricalIndex", ""),
            ("CategoricalIndex", "category"), ("IntervalIndex", ""), ("IntervalIndex", "interval"),
        )
    },
    "pandas.Timestamp": "Timestamp",
    "pandas._libs.tslibs.timestamps.Timestamp": "Timestamp",
    "pandas.Period": "Period",
    "pandas._libs.tslibs.period.Period": "Period",
    "pandas.Interval": "Interval",
    "pandas._libs.interval.Interval": "Interval",
    "pandas.Timedelta": "ours",
    "pandas.NaT": "ours",
    "pandas.NA": "ours",
}  # fmt: skip


# ---- entry points for the json format's pickler and unpickler


def flattener(obj: Any) -> Flatten | None:
    """How to write ``obj`` if it is a numpy or pandas value, else None.

    Looks only at modules already imported: an object of a module not
    imported yet cannot exist.
    """
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, (np.ndarray, np.generic, np.dtype)):
        if type(obj) is np.ndarray or not isinstance(obj, np.ndarray):
            return numpy_json.flatten
        return None  # ndarray subclasses (matrix, masked): not data we can rebuild exactly
    if "pandas" in sys.modules:
        return _pandas_flattener(obj)
    return None


def restorer(name: str) -> Restore | None:
    """How to read a ``py/object`` named ``name`` if it is numpy or pandas data, else None.

    ``name`` is looked up as a string in fixed tables: nothing it names is
    imported (numpy or pandas themselves are, to build their values).
    """
    if name in numpy_json.NAMES:
        require(("numpy",), "numpy", "a numpy value in json")
        return numpy_json.restorer(name)
    kind = _PANDAS_NAMES.get(name)
    if kind is None:
        return None
    require(("pandas",), "pandas", "a pandas value in json")
    ours = _OURS.get(name)
    upstream = _upstream_restorer(kind)
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

"""The parquet format: pandas (and polars) DataFrames, read with at most one copy in memory.

A polars frame goes through pyarrow (``to_arrow``, ``pl.from_arrow``), marked
in the file's schema metadata so that it reads back as a polars frame.

``pd.read_parquet`` holds the decoded arrow table and the pandas frame made
from it at once, and reads whole column chunks before decoding them: 2-3x
the frame's size at peak. A frame whose columns are all plain numpy numbers,
booleans or naive times without nulls (the big ones, typically) is read
here batch by batch into arrays allocated once at their final size, so the
peak is the frame plus one batch. Its labels, index and dtypes are those
pandas would give: they come from pyarrow's own conversion of the file's
schema and pandas metadata. Any other frame is read by ``pd.read_parquet``.
"""

from __future__ import annotations

import io
import json
import warnings
from typing import Any, BinaryIO

from persidict.formats.base import FormatError

BATCH_ROWS = 1 << 12
"""Rows decoded at a time when filling a frame's arrays."""
GIVE_BACK_ROWS = 1 << 14
"""Rows between handing pyarrow's freed decode buffers back to the system (see _fill)."""
READ_BUFFER = 1 << 16
"""Bytes read from the file at a time (instead of whole column chunks)."""
DICTIONARY_LIMIT = 1 << 16
"""Bytes of a column's dictionary before the writer falls back to plain encoding.

pyarrow's default (1 MiB) keeps a column with many distinct values (random
floats) dictionary-encoded in memory for long: a 1M-row frame's write added
2.6x the frame to peak RSS, 0.7-0.85x with this limit. A column with fewer
distinct values than this holds (8,192 int64s) is still dictionary-encoded.
"""
_PLAIN_KINDS = "biufmM"  # numpy kinds copied as they are: bool, ints, floats, times


POLARS_MARK = (b"persidict.frame", b"polars")
"""Schema metadata of a file holding a polars frame (pandas' own files carry b"pandas")."""


def _frame(value: Any) -> Any:
    import pandas as pd

    if not isinstance(value, pd.DataFrame):
        raise FormatError(
            "format 'parquet' stores pandas or polars DataFrames only, "
            f"not {type(value).__module__}.{type(value).__name__}"
        )
    return value


def _is_polars_frame(value: Any) -> bool:
    # by class name, so that a pandas-only install never imports polars
    cls = type(value)
    return cls.__name__ == "DataFrame" and cls.__module__.split(".")[0] == "polars"


def _dump_polars(value: Any, f: BinaryIO) -> None:
    import pyarrow.parquet as pq

    table = value.to_arrow()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **dict([POLARS_MARK])})
    pq.write_table(table, f, dictionary_pagesize_limit=DICTIONARY_LIMIT)


def _load_polars(pf: Any) -> Any:
    try:
        import polars as pl
    except ImportError as exc:
        raise ImportError(
            "reading a polars frame stored as parquet needs polars, which is not installed: "
            "pip install polars"
        ) from exc
    return pl.from_arrow(pf.read())


def parquet_dumps(value: Any) -> bytes:
    buf = io.BytesIO()
    parquet_dump(value, buf)
    return buf.getvalue()


def parquet_dump(value: Any, f: BinaryIO) -> None:
    if _is_polars_frame(value):
        _dump_polars(value, f)
        return
    _frame(value).to_parquet(f, dictionary_pagesize_limit=DICTIONARY_LIMIT)


def parquet_loads(data: bytes) -> Any:
    return parquet_load(io.BytesIO(data))


def parquet_load(f: BinaryIO) -> Any:
    import pandas as pd
    import pyarrow.parquet as pq

    start = f.tell()
    pf = pq.ParquetFile(f, pre_buffer=False, buffer_size=READ_BUFFER)
    key, mark = POLARS_MARK
    if (pf.schema_arrow.metadata or {}).get(key) == mark:
        return _load_polars(pf)
    if _fills_in_place(pd):
        frame = _read_plain(pf)
        if frame is not None:
            return frame
    f.seek(start)
    return pd.read_parquet(f)


def _fills_in_place(pd: Any) -> bool:
    """True where pyarrow's conversion is what ``pd.read_parquet`` returns.

    From pandas 3 with pyarrow 25 on (and pandas' default str dtype), pandas
    adds nothing to ``Table.to_pandas`` but the frame's ``attrs``; older
    versions map strings and time zones themselves.
    """
    import pyarrow as pa

    def major(module: Any) -> int:
        return int(module.__version__.split(".")[0])

    if major(pd) < 3 or major(pa) < 25:
        return False
    with warnings.catch_warnings():  # the option is deprecated: pandas 4 always infers str
        warnings.simplefilter("ignore")
        return bool(pd.get_option("future.infer_string"))


def _read_plain(pf: Any) -> Any:
    """The frame, filled batch by batch into final arrays; None if a column is not plain."""
    import numpy as np
    import pandas as pd

    schema = pf.schema_arrow
    template = schema.empty_table().to_pandas()  # labels and dtypes as pandas gets them
    dtypes = list(template.dtypes)
    fields = [f for f in schema.names if f not in _index_fields(schema)]
    if len(fields) != len(dtypes):
        return None
    leaves = {pf.schema.column(i).path: i for i in range(len(pf.schema))}
    if not all(_plain(pf, schema, leaves, f, d) for f, d in zip(fields, dtypes, strict=True)):
        return None
    rows = pf.metadata.num_rows
    arrays = [np.empty(rows, dtype=d) for d in dtypes]
    for field, arr in zip(fields, arrays, strict=True):
        _fill(pf, field, arr)
    index = pf.read(columns=[], use_pandas_metadata=True).to_pandas().index
    frame = pd.DataFrame(dict(enumerate(arrays)), index=index, copy=False)
    frame.columns = template.columns
    attrs = (schema.metadata or {}).get(b"PANDAS_ATTRS")
    if attrs is not None:
        frame.attrs = json.loads(attrs)
    return frame


def _fill(pf: Any, field: str, arr: Any) -> None:
    """Decode column ``field`` into ``arr``, one column at a time (one reader's pages held).

    pyarrow's allocator keeps the pages and batches it frees for reuse, but
    not for the next ones of the same size: without handing them back every
    few batches, a 1M-row read peaks at 1.6x the frame instead of 1.2x.
    """
    import pyarrow as pa

    pool = pa.default_memory_pool()
    pos = 0
    for batch in pf.iter_batches(BATCH_ROWS, columns=[field], use_threads=False):
        end = pos + batch.num_rows
        arr[pos:end] = batch.column(0).to_numpy(zero_copy_only=False)
        if end // GIVE_BACK_ROWS != pos // GIVE_BACK_ROWS:
            pool.release_unused()
        pos = end
    if pos != len(arr):
        raise FormatError(f"parquet column {field!r} has {pos} rows, its footer says {len(arr)}")


def _index_fields(schema: Any) -> set[str]:
    meta = schema.pandas_metadata or {}
    return {i for i in meta.get("index_columns", ()) if isinstance(i, str)}


def _plain(pf: Any, schema: Any, leaves: dict[str, int], field: str, dtype: Any) -> bool:
    """A fixed-width column without nulls that pyarrow turns into ``dtype`` as it stands."""
    import numpy as np

    arrow_type = schema.field(field).type
    if not isinstance(dtype, np.dtype) or dtype.kind not in _PLAIN_KINDS:
        return False
    if arrow_type.num_fields or arrow_type.to_pandas_dtype() != dtype:
        return False
    column = leaves.get(field)
    if column is None:
        return False
    for group in range(pf.metadata.num_row_groups):
        stats = pf.metadata.row_group(group).column(column).statistics
        if stats is None or not stats.has_null_count or stats.null_count:
            return False
    return True

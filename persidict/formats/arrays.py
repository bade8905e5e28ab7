"""The npy (numpy arrays, no pickles inside) and parquet (pandas DataFrames) formats."""

from __future__ import annotations

import io
from typing import Any, BinaryIO

from persidict.formats.base import FormatError


def _array(value: Any) -> Any:
    import numpy as np

    if not isinstance(value, np.ndarray):
        raise FormatError(f"format 'npy' stores numpy arrays only, not {type(value).__name__}")
    return value


def npy_dumps(value: Any) -> bytes:
    buf = io.BytesIO()
    npy_dump(value, buf)
    return buf.getvalue()


def npy_dump(value: Any, f: BinaryIO) -> None:
    import numpy as np

    np.save(f, _array(value), allow_pickle=False)


def npy_loads(data: bytes) -> Any:
    return npy_load(io.BytesIO(data))


def npy_load(f: BinaryIO) -> Any:
    import numpy as np

    # From a real file numpy reads the data straight into the array (np.fromfile).
    return np.load(f, allow_pickle=False)


def _frame(value: Any) -> Any:
    import pandas as pd

    if not isinstance(value, pd.DataFrame):
        raise FormatError(
            f"format 'parquet' stores pandas DataFrames only, not {type(value).__name__}"
        )
    return value


def parquet_dumps(value: Any) -> bytes:
    buf = io.BytesIO()
    parquet_dump(value, buf)
    return buf.getvalue()


def parquet_dump(value: Any, f: BinaryIO) -> None:
    _frame(value).to_parquet(f)


def parquet_loads(data: bytes) -> Any:
    return parquet_load(io.BytesIO(data))


def parquet_load(f: BinaryIO) -> Any:
    import pandas as pd

    return pd.read_parquet(f)

"""The npy format: numpy arrays, no pickles inside."""

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

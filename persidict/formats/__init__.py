"""Value formats: how a Python value becomes the bytes of one file, and back.

The registry holds ``pkl`` (default), ``json``, ``txt``, ``bytes``, ``npy``
and ``parquet``; every name is known at once, and a format whose extra is
not installed says which one when first used. Add your own with
:func:`register_format`. Pure: no I/O beyond the file objects handed in.
"""

from __future__ import annotations

from persidict.formats import arrays, parquet, pickled, plain
from persidict.formats.base import Format, FormatError, format_names, get_format, register_format
from persidict.formats.json_data import JsonCodec, json_format

register_format(
    Format(
        "pkl",
        ".pkl",
        pickled.dumps,
        pickled.loads,
        pickled.check,
        pickled.dump,
        pickled.load,
        runs_stored_code=True,
    )
)
register_format(json_format())
register_format(Format("txt", ".txt", plain.txt_dumps, plain.txt_loads, plain.txt_check))
register_format(Format("bytes", "", plain.bytes_dumps, bytes, plain.bytes_check))
register_format(
    Format(
        "npy",
        ".npy",
        arrays.npy_dumps,
        arrays.npy_loads,
        None,
        arrays.npy_dump,
        arrays.npy_load,
        requires=("numpy",),
        extra="numpy",
    )
)
register_format(
    Format(
        "parquet",
        ".parquet",
        parquet.parquet_dumps,
        parquet.parquet_loads,
        None,
        parquet.parquet_dump,
        parquet.parquet_load,
        requires=("pandas", "pyarrow"),
        extra="pandas",
    )
)

__all__ = [
    "Format",
    "FormatError",
    "JsonCodec",
    "format_names",
    "get_format",
    "json_format",
    "register_format",
]

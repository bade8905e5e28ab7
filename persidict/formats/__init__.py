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


def decoding_format(name: str | Format, *, trusted: bool) -> Format:
    """Format ``name`` for reading a store whose writers may not be trusted.

    Untrusted, ``pkl`` builds values from plain data types only (builtins,
    datetime, numpy, pandas; a pickle naming anything else is a FormatError)
    and ``json`` decodes data only; ``trusted`` decodes everything, running
    code a stored file names. Other formats never run stored code.
    """
    fmt = get_format(name)
    if fmt.name == "json":
        return json_format(trusted=trusted)
    if fmt.name == "pkl" and not trusted:
        return _DATA_ONLY_PKL
    return fmt


_DATA_ONLY_PKL = Format(
    "pkl", ".pkl", pickled.dumps, pickled.data_loads, pickled.check, pickled.dump
)

__all__ = [
    "Format",
    "FormatError",
    "JsonCodec",
    "decoding_format",
    "format_names",
    "get_format",
    "json_format",
    "register_format",
]

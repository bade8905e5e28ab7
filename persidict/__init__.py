"""persidict: persistent dicts of key tuples, one file per key, on any fsspec filesystem."""

from persidict.dicts import FileDirDict, PersiDict, open_dict
from persidict.formats import Format, FormatError, get_format, register_format
from persidict.keys import normalize_key

__all__ = [
    "FileDirDict",
    "Format",
    "FormatError",
    "PersiDict",
    "S3Dict",
    "get_format",
    "normalize_key",
    "open_dict",
    "register_format",
]


def __getattr__(name: str):
    if name == "S3Dict":
        from persidict.dicts.s3 import S3Dict

        return S3Dict
    raise AttributeError(f"module 'persidict' has no attribute {name!r}")

"""The dicts: one PersiDict over any byte store, and its named backends."""

from persidict.dicts.base import PersiDict
from persidict.dicts.file_dir import FileDirDict
from persidict.dicts.url import open_dict

__all__ = ["FileDirDict", "PersiDict", "S3Dict", "open_dict"]


def __getattr__(name: str):
    if name == "S3Dict":  # needs the s3 extra
        from persidict.dicts.s3 import S3Dict

        return S3Dict
    raise AttributeError(name)

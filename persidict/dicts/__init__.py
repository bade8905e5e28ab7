"""The dicts: one PersiDict over any byte store, and its named backends."""

from persidict.dicts.base import PersiDict
from persidict.dicts.empty import EmptyDict
from persidict.dicts.file_dir import FileDirDict
from persidict.dicts.local import LocalDict
from persidict.dicts.overlapping import OverlappingMultiDict
from persidict.dicts.url import open_dict

__all__ = [
    "BasicS3Dict",
    "EmptyDict",
    "FileDirDict",
    "LocalDict",
    "OverlappingMultiDict",
    "PersiDict",
    "S3Dict",
    "open_dict",
]


def __getattr__(name: str):
    if name == "S3Dict":  # needs the s3 extra
        from persidict.dicts.s3 import S3Dict

        return S3Dict
    if name == "BasicS3Dict":
        from persidict.dicts.basic_s3 import BasicS3Dict

        return BasicS3Dict
    raise AttributeError(name)

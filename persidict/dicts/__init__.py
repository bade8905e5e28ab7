"""The dicts: one PersiDict over any byte store, and its named backends."""

from persidict.dicts.base import PersiDict
from persidict.dicts.basic_s3 import BasicS3Dict
from persidict.dicts.empty import EmptyDict
from persidict.dicts.file_dir import FileDirDict
from persidict.dicts.local import LocalDict
from persidict.dicts.overlapping import OverlappingMultiDict
from persidict.dicts.s3 import S3Dict  # s3fs is imported only when one is made
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

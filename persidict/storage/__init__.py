"""Byte stores: bytes at relative paths on one root, with atomic commits."""

from persidict.storage.base import ByteStore, Entry, PreconditionFailed, RootNotFoundError
from persidict.storage.fsspec_store import FsspecStore
from persidict.storage.local import LocalStore

__all__ = [
    "ByteStore",
    "Entry",
    "FsspecStore",
    "LocalStore",
    "PreconditionFailed",
    "RootNotFoundError",
    "S3Store",
]


def __getattr__(name: str):
    if name == "S3Store":  # s3fs is an optional extra
        from persidict.storage.s3 import S3Store

        return S3Store
    raise AttributeError(name)

"""Byte stores: bytes at relative paths on one root, with atomic commits."""

from persidict.storage.base import ByteStore, Entry, PreconditionFailed, RootNotFoundError
from persidict.storage.fsspec_store import FsspecStore
from persidict.storage.local import LocalStore

__all__ = [
    "AzureStore",
    "ByteStore",
    "Entry",
    "FsspecStore",
    "GCSStore",
    "LocalStore",
    "PreconditionFailed",
    "RootNotFoundError",
    "S3Store",
]


def __getattr__(name: str):
    # Each cloud store needs an optional extra: imported when asked for.
    if name == "S3Store":
        from persidict.storage.s3 import S3Store

        return S3Store
    if name == "GCSStore":
        from persidict.storage.gcs import GCSStore

        return GCSStore
    if name == "AzureStore":
        from persidict.storage.azure import AzureStore

        return AzureStore
    raise AttributeError(name)

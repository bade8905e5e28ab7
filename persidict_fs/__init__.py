"""persidict_fs: a PersiDict seen as an fsspec filesystem (protocol ``persidict``)."""

from persidict_fs.filesystem import PersiDictFileSystem

__all__ = ["PersiDictFileSystem"]

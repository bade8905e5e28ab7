"""persidict_fs: a PersiDict seen as an fsspec filesystem (protocol ``persidict``), and mounted."""

from persidict_fs.filesystem import PersiDictFileSystem
from persidict_fs.mount import Mount, MountError, mount

__all__ = ["Mount", "MountError", "PersiDictFileSystem", "mount"]

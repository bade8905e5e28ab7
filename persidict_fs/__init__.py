"""persidict_fs: a persidict store as a filesystem, and as a FUSE mount."""

from persidict_fs.mount import Mount, MountError, mount

__all__ = ["Mount", "MountError", "mount"]

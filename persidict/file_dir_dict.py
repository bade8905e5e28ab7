"""persidict 0.309.0's module path for FileDirDict, with its path helpers."""

from __future__ import annotations

import os
from typing import Final

from persidict.dicts.file_dir import DEFAULT_BASE_DIR, FileDirDict

FILEDIRDICT_DEFAULT_BASE_DIR: Final[str] = DEFAULT_BASE_DIR
_LONG = "\\\\?\\"  # Windows' prefix for paths longer than 260 characters
_LONG_UNC = _LONG + "UNC\\"


def add_long_path_prefix(path: str) -> str:
    """On Windows, ``path`` with the long-path prefix (UNC paths as ``\\\\?\\UNC\\``);
    elsewhere ``path`` unchanged."""
    if os.name != "nt" or path.startswith(_LONG):
        return path
    return _LONG_UNC + path[2:] if path.startswith("\\\\") else _LONG + path


def drop_long_path_prefix(path: str) -> str:
    """The inverse of :func:`add_long_path_prefix`."""
    if os.name != "nt":
        return path
    if path.startswith(_LONG_UNC):
        return "\\\\" + path[len(_LONG_UNC) :]
    return path[len(_LONG) :] if path.startswith(_LONG) else path


__all__ = [
    "FILEDIRDICT_DEFAULT_BASE_DIR",
    "FileDirDict",
    "add_long_path_prefix",
    "drop_long_path_prefix",
]

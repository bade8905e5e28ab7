"""FileDirDict: a PersiDict in a local (or NFS-mounted) folder."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from itertools import islice
from typing import Any

from persidict.conditions import ValueType
from persidict.dicts.base import PersiDict
from persidict.dicts.stored import resolve_format
from persidict.formats import Format
from persidict.storage.local import LocalStore
from persidict.upstream_layout import upstream_digest_len

DEFAULT_BASE_DIR = "__file_dir_dict__"


def is_case_insensitive(folder: str) -> bool:
    """True if ``folder`` is on a filesystem that ignores the case of names.

    Decided by looking, never by writing (a store may be read-only): a name
    with letters, looked up again with its case swapped, finds the same file
    only where case is ignored. The names tried, nearest first: an entry of
    ``folder`` (its own filesystem), ``folder`` itself, then its ancestors.
    """
    folder = os.path.abspath(folder)
    for path in _names_with_letters(folder):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue  # removed meanwhile: try the next one
        try:
            return os.path.samestat(st, os.lstat(_swapcase_name(path)))
        except FileNotFoundError:
            return False
    return sys.platform in ("darwin", "win32")  # no letters anywhere: the platform's habit


def _names_with_letters(folder: str) -> Iterator[str]:
    with os.scandir(folder) as entries:
        for entry in islice(entries, 1000):
            if entry.name != entry.name.swapcase():
                yield entry.path
                break
    path = folder
    while True:
        head, name = os.path.split(path)
        if name != name.swapcase():
            yield path
        if head == path or not name:
            return
        path = head


def _swapcase_name(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, name.swapcase())


class FileDirDict(PersiDict[ValueType]):
    """A persistent dict stored as one file per key under a local folder.

    Args:
        base_dir: the folder (created if missing); ``dir_name`` is an alias.
        serialization_format: ``pkl`` (default), ``json``, ``txt``, ``bytes``, ...;
            ``file_type`` is an alias.
        digest_len: suffix length that keeps case-only-different keys apart.
            ``None`` (default) means 4 in a folder persidict 0.309.0 wrote with
            its defaults, else 0 on case-sensitive filesystems and 8 on
            case-insensitive ones (macOS, Windows).
        durable: fsync every write (file and folder).
        append_only, base_class_for_values: see :class:`PersiDict`.

    >>> d = FileDirDict(dir_name="my_folder")
    >>> d["Eliza", "year"] = 1965    # the file my_folder/Eliza/year.pkl
    """

    store: LocalStore

    def __init__(
        self,
        base_dir: str | os.PathLike[str] | None = None,
        serialization_format: str | Format | None = None,
        *,
        dir_name: str | os.PathLike[str] | None = None,
        file_type: str | Format | None = None,
        digest_len: int | None = None,
        durable: bool = False,
        append_only: bool = False,
        base_class_for_values: type | None = None,
    ) -> None:
        if base_dir is not None and dir_name is not None:
            raise TypeError("give base_dir or dir_name, not both")
        folder = base_dir if base_dir is not None else dir_name
        fmt = _one_format(serialization_format, file_type)
        store = LocalStore(folder if folder is not None else DEFAULT_BASE_DIR, durable=durable)
        if digest_len is None:
            ext = resolve_format(fmt, base_class_for_values).extension
            digest_len = upstream_digest_len(store.root, ext) or (
                8 if is_case_insensitive(store.root) else 0
            )
        super().__init__(
            store,
            fmt,
            digest_len=digest_len,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
        )

    @property
    def base_dir(self) -> str:
        """The folder of this dict (of its prefix, for a sub-dict)."""
        root = self.prefix_path
        return os.path.join(self.store.root, *root.split("/")) if root else self.store.root

    def _address_params(self) -> dict[str, Any]:
        return {"base_dir": self.base_dir}


def _one_format(serialization_format, file_type) -> str | Format:
    if None not in (serialization_format, file_type) and serialization_format != file_type:
        raise TypeError("give serialization_format or file_type, not both")
    chosen = serialization_format if serialization_format is not None else file_type
    return "pkl" if chosen is None else chosen

"""Listing a local store's folder tree: scandir of folders opened without following symlinks.

Only regular files and folders are listed. Temp and lock files (names
starting with ``.#``) are left out; symlinks, FIFOs and sockets are skipped
with a warning in this module's log, so a loop or a dangling link never
hangs a walk. Listings stream: folder by folder, and a huge folder in
chunks of ``_NAMES_CHUNK`` names, so memory stays flat whatever the size.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterator
from itertools import islice

from persidict.storage.base import TEMP_PREFIX

log = logging.getLogger("persidict.storage.local")

_NAMES_CHUNK = 4096

Stat = tuple[str, os.stat_result]


class FolderLister:
    """Listings under one root.

    ``open_folder(rel)`` opens folder ``rel`` ('' is the root) without
    following symlinks (FileNotFoundError, NotADirectoryError, or an OSError
    ELOOP naming a symlink); ``full_path(rel)`` names a path in log lines.
    """

    def __init__(self, open_folder: Callable[[str], int], full_path: Callable[[str], str]) -> None:
        self._open_folder = open_folder
        self._full_path = full_path

    def _open(self, rel: str) -> int | None:
        """An fd of folder ``rel`` to scan, or None if it is no folder (or a symlink)."""
        try:
            return self._open_folder(rel)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            log.warning("skipped %s: symlinks inside a store are never followed", exc.filename)
            return None

    def entries(self, rel: str, with_stat: bool) -> Iterator[tuple[list, list[str]]]:
        """Chunks of ``(files, folders)`` of folder ``rel``: stored files and sub-folder names.

        Files are names, or ``(name, stat)`` with ``with_stat``.
        """
        fd = self._open(rel)
        if fd is None:
            return
        try:
            with os.scandir(fd) as it:
                # List comprehensions keep the per-entry work in C-speed loops.
                while batch := list(islice(it, _NAMES_CHUNK)):
                    if with_stat:
                        found = [e for e in batch if e.is_file(follow_symlinks=False)]
                        yield _stats(found), self._folders(rel, batch, len(found))
                        continue
                    names = [e.name for e in batch if e.is_file(follow_symlinks=False)]
                    folders = self._folders(rel, batch, len(names))
                    if TEMP_PREFIX in "/".join(names):  # one C-level scan finds none, usually
                        names = [n for n in names if not n.startswith(TEMP_PREFIX)]
                    yield names, folders
        finally:
            os.close(fd)

    def _folders(self, rel: str, batch: list[os.DirEntry], files: int) -> list[str]:
        """Names of the folders in ``batch`` (``files`` of its entries are files); logs the rest."""
        folders: list[str] = []
        if files < len(batch):
            for e in batch:
                if e.is_dir(follow_symlinks=False):
                    folders.append(e.name)
                elif not e.is_file(follow_symlinks=False):
                    self._skip(rel, e)
        return folders

    def _skip(self, rel: str, e: os.DirEntry) -> None:
        what = "symlink" if e.is_symlink() else "special file"
        full = self._full_path(f"{rel}/{e.name}" if rel else e.name)
        log.warning("skipped %s %s: a store lists regular files and folders only", what, full)

    def iter_folders(self, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
        """Stored file names folder by folder under ``prefix`` (no stat calls)."""
        stack = [prefix]
        while stack:
            rel = stack.pop()
            for names, folders in self.entries(rel, with_stat=False):
                stack.extend(f"{rel}/{n}" if rel else n for n in folders)
                if names:
                    yield rel, names

    def walk(self, prefix: str = "") -> Iterator[Stat]:
        """``(relative path, stat)`` of every stored file under ``prefix``."""
        stack = [prefix]
        while stack:
            rel = stack.pop()
            base = f"{rel}/" if rel else ""
            for files, folders in self.entries(rel, with_stat=True):
                stack.extend(base + n for n in folders)
                yield from ((base + name, st) for name, st in files)

    def listdir(self, prefix: str = "") -> tuple[list[Stat], list[str]]:
        """Stored files directly in ``prefix`` (with stats) and names of its sub-folders."""
        base = f"{prefix}/" if prefix else ""
        files: list[Stat] = []
        dirs: list[str] = []
        for chunk, folders in self.entries(prefix, with_stat=True):
            files.extend((base + name, st) for name, st in chunk)
            dirs.extend(folders)
        return files, dirs


def _stats(found: list[os.DirEntry]) -> list[Stat]:
    stats = []
    for e in found:
        if e.name.startswith(TEMP_PREFIX):
            continue
        try:
            stats.append((e.name, e.stat(follow_symlinks=False)))
        except FileNotFoundError:
            continue  # deleted since it was listed
    return stats

"""Paths beneath a local store's root: opened without following symlinks, named in errors.

A :class:`LocalPaths` opens files and folders below the root through
:func:`~persidict.storage.beneath.open_beneath`, names the symlink on a path
that failed, makes the folders a write needs (and removes them again when
the write fails), and runs batch work folder by folder, one descriptor per
folder. The helpers below turn OS errors into the OSError a dict user
catches, naming the full path.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

from persidict.storage.beneath import open_beneath

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY
"""Flags to open a folder (to list it, lock it, or open files in it)."""
_ABSENT = (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG)  # no such stored file can exist

GroupWork = Callable[[int, list[str]], list]
"""``work(folder_fd, paths_in_it)``: one result (or exception) per path, in order."""


def named(exc: OSError, full: str, why: str | None = None) -> OSError:
    """``exc`` as the same OSError type naming ``full`` (and saying why, if given)."""
    if exc.filename == full and why is None:
        return exc
    return type(exc)(exc.errno, why or exc.strerror, full)


def absent_or(exc: OSError) -> OSError:
    """FileNotFoundError where no stored file can be (a missing folder, a file on the way,
    a name too long), else ``exc``."""
    if exc.errno in _ABSENT:
        return FileNotFoundError(errno.ENOENT, "no stored file", exc.filename)
    return exc


def symlink_error(full: str) -> OSError:
    """The error of a path through a symlink, which a store never follows."""
    return OSError(
        errno.ELOOP, "a symlink on the path; symlinks inside a store are never followed", full
    )


class LocalPaths:
    """Relative paths under the folder ``root`` (absolute; made if missing)."""

    def __init__(self, root: str) -> None:
        self.root = root
        if not os.path.isdir(root):  # opening an existing store writes nothing
            os.makedirs(root, exist_ok=True)
        self.real = os.path.realpath(root)
        """The root with its own symlinks resolved (the only ones ever followed)."""

    def full_path(self, path: str) -> str:
        """``path`` under the root, as errors name it."""
        # Plain concatenation: paths are relative and validated by the caller.
        return f"{self.root}/{path}" if path else self.root

    def absent(self, path: str) -> FileNotFoundError:
        """The error of reading or deleting ``path`` where no file is stored."""
        return FileNotFoundError(errno.ENOENT, "no stored file", self.full_path(path))

    def open(self, path: str, flags: int, mode: int = 0o644) -> int:
        """An fd of ``path`` under the root, never through a symlink; errors name the path."""
        try:
            return open_beneath(self.real, path, flags, mode)
        except OSError as exc:
            raise self.open_error(exc, path) from None

    def open_folder(self, path: str) -> int:
        """An fd of folder ``path`` ('' is the root), never through a symlink."""
        return self.open(path, DIR_FLAGS)

    def open_error(self, exc: OSError, path: str) -> OSError:
        """What to raise when opening ``path`` failed: a symlink on it is named."""
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # rare: find out which part
            link = self._first_symlink(path)
            if link is not None:
                return symlink_error(self.full_path(link))
        return named(exc, self.full_path(path), exc.strerror)

    def _first_symlink(self, path: str) -> str | None:
        """The first part of ``path`` that is a symlink, if any (named in errors)."""
        done = ""
        for part in path.split("/"):
            done = f"{done}/{part}" if done else part
            try:
                mode = os.lstat(f"{self.real}/{done}").st_mode
            except OSError:
                return None
            if stat.S_ISLNK(mode):
                return done
            if not stat.S_ISDIR(mode):
                return None
        return None

    # the folder of a file, made for a write if missing
    def folder_of(self, path: str, create: bool) -> tuple[int, str, list[str]]:
        """An fd of ``path``'s folder, the file name, and the folders made for it.

        With ``create``, missing folders are made (and listed, so that a
        failed write can remove them again with :meth:`remove_made`).
        """
        folder, _, name = path.rpartition("/")
        try:
            return self.open(folder, DIR_FLAGS), name, []
        except FileNotFoundError:
            if not create:
                raise
        except NotADirectoryError as exc:
            raise self._clash(folder, exc) from None
        made = self.make_folders(folder)
        try:
            return self.open(folder, DIR_FLAGS), name, made
        except BaseException:
            self.remove_made(made)
            raise

    def _clash(self, folder: str, exc: OSError) -> OSError:
        why = "a stored file is where a folder of this path would be"
        return NotADirectoryError(errno.ENOTDIR, why, self.full_path(folder))

    def make_folders(self, folder: str) -> list[str]:
        """Make ``folder`` and its missing parents without following symlinks; those made."""
        made: list[str] = []
        fd = os.open(self.real, DIR_FLAGS | os.O_CLOEXEC)
        done = ""
        try:
            for part in folder.split("/"):
                done = f"{done}/{part}" if done else part
                try:
                    os.mkdir(part, dir_fd=fd)
                    made.append(done)
                except FileExistsError:
                    pass
                try:
                    inner = os.open(part, DIR_FLAGS | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        raise symlink_error(self.full_path(done)) from None
                    if exc.errno == errno.ENOTDIR:
                        raise self._clash(done, exc) from None
                    raise named(exc, self.full_path(done), exc.strerror) from None
                os.close(fd)
                fd = inner
        except BaseException:
            self.remove_made(made)
            raise
        finally:
            os.close(fd)
        return made

    def remove_made(self, made: list[str]) -> None:
        """Remove folders a failed write made, deepest first, unless others wrote there."""
        for folder in reversed(made):
            try:
                os.rmdir(f"{self.real}/{folder}")
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    raise
                return  # another writer is using it

    def by_folder(self, paths: list[str], work: GroupWork, *, create: bool) -> list:
        """``work(folder_fd, paths_in_it)`` for each folder of ``paths``; results in order.

        A folder that cannot be opened fails each of its paths (FileNotFoundError
        where it is absent); folders made for writes that all failed are removed.
        """
        groups: dict[str, list[int]] = {}
        for i, path in enumerate(paths):
            groups.setdefault(path.rpartition("/")[0], []).append(i)
        results: list = [None] * len(paths)
        for indexes in groups.values():
            group = [paths[i] for i in indexes]
            try:
                dfd, _, made = self.folder_of(group[0], create=create)
            except Exception as exc:
                missing = isinstance(exc, (FileNotFoundError, NotADirectoryError)) and not create
                out = [self.absent(p) if missing else exc for p in group]
            else:
                try:
                    out = work(dfd, group)
                finally:
                    os.close(dfd)
                if made and all(isinstance(r, BaseException) for r in out):
                    self.remove_made(made)
            for i, result in zip(indexes, out, strict=True):
                results[i] = result
        return results

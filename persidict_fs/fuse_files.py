"""Open files of the FUSE mount, one class per job: reading, writing, editor temp files.

A :class:`Reader` reads one version of a stored value: a small one whole, in
one request; a big one in blocks from a file object of that version
(``PersiDictFileSystem.open_stored``), so a replacement cannot mix into a
read under way. A :class:`Writer` holds what is written in a :class:`Spool`
(memory up to a threshold, then an anonymous temp file outside the store),
so memory stays bounded whatever the file's size; it is committed as a whole
by the mount when the writer closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

# the view's writable files spool through it too; the mount imports these from here
from persidict_fs.spool import COPY_BLOCK, SPILL_THRESHOLD, Spool  # noqa: F401


@dataclass
class Reader:
    """A file open for reading: one version of the stored value.

    ``data`` holds a small remote value read whole; ``source`` a file object
    of one version of a local or a big remote one (``open_stored``).
    """

    path: str
    data: bytes | None = None
    source: BinaryIO | None = None
    paged: bool = False  # reads through the kernel's page cache (see fuse_pages)
    size: int = 0  # of the version it reads
    overlapped: bool = False  # paged, and the file was opened for writing since
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, size: int, offset: int) -> bytes:
        if self.data is not None:
            return self.data[offset : offset + size]
        fileno = _fileno(self.source)  # type: ignore[arg-type]
        if fileno is not None:
            return os.pread(fileno, size, offset)
        self.source.seek(offset)  # type: ignore[union-attr]
        return self.source.read(size)  # type: ignore[union-attr]

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None


@dataclass
class Writer:
    """A file open for writing: its bytes so far, committed as a whole at close.

    ``loaded`` is False until the stored value was copied in (a write that
    does not replace the whole file needs it). ``appending``: opened with
    O_APPEND and only appended to so far, so the spool holds just the new
    bytes, committed with the view's atomic append (after whatever is stored
    then: two appenders both land); a read or a truncate through it loads the
    stored value under them and ends that. ``dirty`` says there is
    something to commit; ``written`` says bytes came since the last commit
    (a flush with nothing new is a copy of the descriptor closing).
    """

    path: str
    spool: Spool
    append: bool = False
    appending: bool = False
    loaded: bool = False
    dirty: bool = False
    written: bool = False
    created: bool = False  # made by this open (O_CREAT of a new name), not yet committed
    opener: int = 0  # the pid that opened it: flushes from others are forked copies closing
    unlinked: bool = False  # its name was removed while open: its bytes are never stored
    killed: bool = False  # its writer died by a signal: what it wrote is dropped
    mtime: float | None = None  # set by utimens while open: applied after the commit
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        self.spool.close()


@dataclass
class MemFile:
    """An editor's temp file that the store cannot hold: kept in the server's memory."""

    data: bytearray
    mtime: float = field(default_factory=time.time)


@dataclass
class TempHandle:
    """An open editor temp file: its bytes are the MemFile of its path."""

    path: str
    lock: threading.Lock = field(default_factory=threading.Lock)


Handle = Reader | Writer | TempHandle


try:  # glibc: freed blocks stay in the process's arenas until trimmed
    _malloc_trim: Callable[[int], int] | None = ctypes.CDLL(None).malloc_trim
except (OSError, AttributeError):  # another libc: nothing to give back this way
    _malloc_trim = None

BIG = 1 << 20  # a file this big, once closed, gives its memory back to the system


def give_back_memory() -> None:
    """Return the heap memory freed by a big file (spool, read blocks) to the system, so the
    server's size goes back down after big copies instead of staying at its peak."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _fileno(f: BinaryIO) -> int | None:
    try:
        return f.fileno()
    except (AttributeError, io.UnsupportedOperation, OSError):
        return None


def copy_stream(src: BinaryIO, spool: Spool, upto: int | None = None) -> None:
    """Copy ``src`` (from its current position) into ``spool``, at most ``upto`` bytes."""
    offset = 0
    while upto is None or offset < upto:
        want = COPY_BLOCK if upto is None else min(COPY_BLOCK, upto - offset)
        block = src.read(want)
        if not block:
            break
        spool.write(offset, block)
        offset += len(block)


class Journal:
    """The store's temp files this server is filling, so that after a crash they are removed.

    One file per server (``<pid>.journal`` in ``folder``), one path a line;
    :meth:`clean` (at the next mount) removes what dead servers left.
    """

    def __init__(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, f"{os.getpid()}.journal")
        self._open: set[str] = set()
        self._lock = threading.Lock()

    def add(self, path: str) -> None:
        with self._lock:
            self._open.add(path)
            self._save()

    def remove(self, paths: list[str]) -> None:
        with self._lock:
            self._open.difference_update(paths)
            self._save()

    def _save(self) -> None:
        if not self._open:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            return
        with open(self.path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write("".join(f"{p}\n" for p in sorted(self._open)))

    @staticmethod
    def clean(folder: str, is_temp: Callable[[str], bool]) -> list[str]:
        """Remove the temp files listed by servers that are gone; the paths removed.

        Mounts starting at once may clean together: each claims a dead
        server's journal by renaming it, so one cleaner handles it and the
        others go on to the next (a claim whose cleaner died is taken over).
        """
        removed: list[str] = []
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return removed
        for name in names:
            owner, _, cleaner = name.partition(".journal")
            cleaner = cleaner.removeprefix(".cleaning-")
            if not owner.isdigit() or _alive(int(owner)):
                continue
            if cleaner and (not cleaner.isdigit() or _alive(int(cleaner))):
                continue
            claimed = os.path.join(folder, f"{owner}.journal.cleaning-{os.getpid()}")
            try:
                os.rename(os.path.join(folder, name), claimed)
            except FileNotFoundError:
                continue  # another cleaner claimed it first
            with open(claimed, encoding="utf-8", errors="surrogateescape") as f:
                paths = f.read().splitlines()
            for path in paths:
                if is_temp(os.path.basename(path)):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                        removed.append(path)
            os.unlink(claimed)
        return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


PF_EXITING = 0x4  # the task is in exit: its files are being closed for it


def killed_by_signal(pid: int) -> int:
    """The signal that is ending process ``pid`` (0 if it lives, or exits by itself).

    A killed writer's files are closed during its exit, when ``/proc/PID/stat``
    shows the exiting flag and the wait status (a signal number, where a
    normal exit shows a status shifted left by 8).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
    except OSError:
        return 0
    if len(fields) < 50 or not int(fields[6]) & PF_EXITING:  # fields 9 (flags), 52 (exit code)
        return 0
    return int(fields[49]) & 0x7F

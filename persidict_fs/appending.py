"""Pieces of the view's atomic append (``PersiDictFileSystem.append_file``).

An append stores ``old + added`` as a compare-and-swap on the ETag of the
old version. The old bytes come with that ETag (``read_head``: on S3 one GET
of the first ``BLOCK`` bytes), the rest by ranges pinned to it, so they are
that version's bytes: a replace in between fails the read or the swap, and
the append is tried again from the newer version. Local: an ETag is the
inode, time and size of a file, and every write is a new file (a new inode
while the old one lives). S3: an ETag is the MD5 of the content, so a swap
that passes finds the very bytes that were read.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO, cast

from persidict.storage.base import MISSING, SPOOL_MAX, ByteStore, Payload, PreconditionFailed

BLOCK = 8 << 20  # one ranged read of the old bytes
BACK_OFF_FIRST = 0.005  # seconds: the first wait's bound, doubled per attempt
BACK_OFF_MAX = 0.2  # about one append's round trips on S3: a loser is soon back in the race


_LOCKS = [threading.Lock() for _ in range(64)]


def one_at_a_time(store_url: str, path: str) -> threading.Lock:
    """A lock for appends to ``path`` in this process.

    Threads of one process (the mount's, say) then never race each other's
    compare-and-swap; other processes and machines still can, and retry.
    """
    return _LOCKS[hash((store_url, path)) % len(_LOCKS)]


def _temp_file() -> BinaryIO:
    """A temp file in memory up to ``SPOOL_MAX`` bytes, then on disk."""
    return cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX))


def back_off(attempt: int) -> None:
    """Wait a random time (full jitter) before attempt ``attempt + 1``: contenders spread out."""
    time.sleep(random.uniform(0, min(BACK_OFF_MAX, BACK_OFF_FIRST * 2**attempt)))


class Added:
    """The bytes to append, for every attempt: bytes as given, a callable's in a temp file.

    ``repeatable``: the callable writes the same bytes each time it is
    called, so it is called per attempt (with the store's file, where one
    is written) instead of being kept.
    """

    def __init__(self, data: Payload, repeatable: bool = False) -> None:
        self._file: BinaryIO | None = None
        self._again: Callable[[BinaryIO], None] | None = None
        self._bytes = b""
        if callable(data) and repeatable:
            self._again = data
            counted = _Counter()
            data(counted)  # type: ignore[arg-type]
            self.size = counted.size
        elif callable(data):
            self._file = file = _temp_file()
            data(file)
            self.size = file.tell()
        else:
            self._bytes = bytes(data)
            self.size = len(self._bytes)

    def copy_to(self, out: BinaryIO) -> None:
        if self._again is not None:
            self._again(out)
        elif self._file is not None:
            self._file.seek(0)
            shutil.copyfileobj(self._file, out, BLOCK)
        else:
            out.write(self._bytes)

    def __enter__(self) -> Added:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._file is not None:
            self._file.close()


class _Counter:
    """A write-only sink that counts what is written into it."""

    size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


class Version:
    """The stored bytes of one version, read pinned to its ETag (``etag`` None: no file).

    Its first ``BLOCK`` bytes come with its size and ETag (one GET on S3);
    the rest is read by ranges pinned to that ETag when copied.
    """

    def __init__(self, store: ByteStore, path: str) -> None:
        self.store, self.path = store, path
        self.etag: str | None = None
        self.head, self.size = b"", 0
        with contextlib.suppress(*MISSING):
            self.head, self.size, self.etag = store.read_head(path, BLOCK)

    def copy_to(self, out: BinaryIO) -> None:
        """Write the version's bytes to ``out``; PreconditionFailed if it is gone."""
        out.write(self.head)
        offset = len(self.head)
        while offset < self.size:
            end = min(self.size, offset + BLOCK)
            try:
                block = self.store.read_range(self.path, offset, end, etag=self.etag)
            except MISSING:
                raise PreconditionFailed(f"{self.store.url}/{self.path} was removed") from None
            if len(block) != end - offset:  # a shorter version with the same ETag: changed
                raise PreconditionFailed(f"{self.store.url}/{self.path} changed while read")
            out.write(block)
            offset = end


class Joined:
    """``old + added`` as a payload for one store write; :meth:`close` frees it.

    ``streamed``: the store's write calls :attr:`payload` in this thread, so
    the old bytes go straight from the stored file into the new one (a local
    store). Otherwise (S3, whose writes run in its event loop, where no store
    call can be made) they are read first, into a temp file beyond
    ``SPOOL_MAX`` bytes.
    """

    def __init__(self, old: Version, added: Added, streamed: bool) -> None:
        self._spool: BinaryIO | None = None
        self.payload: Payload
        if streamed:
            self.payload = self._write_both(old, added)
            return
        self._spool = spool = _temp_file()
        try:
            old.copy_to(spool)
            added.copy_to(spool)
        except BaseException:
            self.close()
            raise
        if spool.tell() <= SPOOL_MAX:
            spool.seek(0)
            self.payload = spool.read()
            self.close()
        else:
            self.payload = self._copy_spool

    @staticmethod
    def _write_both(old: Version, added: Added) -> Payload:
        def write(out: BinaryIO) -> None:
            old.copy_to(out)
            added.copy_to(out)

        return write

    def _copy_spool(self, out: BinaryIO) -> None:
        self._spool.seek(0)  # type: ignore[union-attr]
        shutil.copyfileobj(self._spool, out, BLOCK)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

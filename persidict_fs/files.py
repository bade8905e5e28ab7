"""Files of the filesystem view open for writing: committed whole, on close.

A file opened for writing holds what is written in a :class:`Spool`
(memory up to a threshold, then an anonymous temp file), so memory stays
bounded whatever its size, and is committed in one atomic store write on
``close`` (or on the transaction's commit), streamed from the spool, never
half-written. Leaving a ``with`` block by an exception discards it. (Files
open for reading are the store's own: ``PersiDictFileSystem.open_stored``.)
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from persidict.storage.base import SPOOL_MAX, Payload
from persidict.storage.position import Positioned
from persidict_fs.spool import Spool


class StagedFile(Positioned, io.BufferedIOBase):
    """A file being written (``wb``, ``xb``, ``ab``): spooled, committed on close.

    ``commit_payload`` stores the spool's payload (bytes, or a callable
    streaming them) atomically, or raises and leaves the stored value as it
    was. In ``ab`` mode every write goes to the end, as with ``O_APPEND``
    (``commit_payload`` appends the bytes to what is stored at close).
    """

    def __init__(
        self,
        fs: Any,
        path: str,
        mode: str,
        commit_payload: Callable[[Payload], None],
        autocommit: bool = True,
        spill_threshold: int = SPOOL_MAX,
    ) -> None:
        super().__init__()
        self.fs = fs
        self.path = path
        self.mode = mode
        self.autocommit = autocommit
        self._commit_payload = commit_payload
        self._spool: Spool | None = Spool(spill_threshold)
        self._staged = False  # closed, its commit still to come (a transaction's)
        self._pos = 0

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def name(self) -> str:
        return self.path

    def read(self, size: int | None = -1) -> bytes:
        raise io.UnsupportedOperation(f"{self.path} is open for writing")

    def _open_spool(self) -> Spool:
        if self.closed or self._spool is None:
            raise ValueError(f"I/O operation on closed file {self.path}")
        return self._spool

    def write(self, data: Any) -> int:
        spool = self._open_spool()
        view = memoryview(data).cast("B")
        if self.mode == "ab":
            self._pos = spool.size
        spool.write(self._pos, view)  # type: ignore[arg-type]  # any bytes-like will do
        self._pos += view.nbytes
        return view.nbytes

    def _end(self) -> int:
        return self._open_spool().size

    def truncate(self, size: int | None = None) -> int:
        spool = self._open_spool()
        size = self._pos if size is None else size
        spool.truncate(size)
        return size

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self._staged = True
        if self.autocommit:
            self.commit()

    def commit(self) -> None:
        """Store the written bytes (called by ``close``, or by a transaction)."""
        if not self._staged or self._spool is None:
            return
        spool, self._spool, self._staged = self._spool, None, False
        try:
            self._commit_payload(spool.payload(lambda path: None))
        finally:
            spool.close()

    def discard(self) -> None:
        """Drop the written bytes; the stored value stays as it was."""
        self._staged = False
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if not self.closed:
            super().close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()


MIN_READ_AHEAD = 64 << 10
MAX_READ_AHEAD = 4 << 20


class ReadAhead(Positioned, io.BufferedIOBase):
    """A file read from a remote store by ranges, fetching about what is read.

    Wraps the store's raw ranged reader of one version. A read of at least
    the read-ahead window fetches exactly its bytes; a smaller one fetches the
    window, which doubles while reads go on where the last fetch ended (up to
    ``MAX_READ_AHEAD``) and falls back to ``MIN_READ_AHEAD`` after a seek
    elsewhere. So a parquet reader jumping to one column fetches that column,
    and a sequential reader soon fetches big blocks.
    """

    def __init__(self, raw: Any) -> None:
        super().__init__()
        self.raw = raw
        self._buf = b""
        self._buf_start = 0
        self._pos = 0
        self._window = MIN_READ_AHEAD // 2
        self._fetched_to = 0  # where the last fetch ended: the next sequential one starts here

    def readable(self) -> bool:
        return True

    @property
    def name(self) -> str:
        return self.raw.name

    def _end(self) -> int:
        return self.raw.seek(0, io.SEEK_END)

    def _buffered(self) -> bytes:
        at = self._pos - self._buf_start
        return self._buf[at:] if 0 <= at < len(self._buf) else b""

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("read of a closed file")
        have = self._buffered()
        if size is not None and 0 <= size <= len(have):
            self._pos += size
            return have[:size]
        start = self._pos + len(have)
        self.raw.seek(start)
        if size is None or size < 0:
            data = have + self.raw.read()
            self._pos += len(data)
            return data
        want = size - len(have)
        sequential = start == self._fetched_to
        self._window = min(self._window * 2, MAX_READ_AHEAD) if sequential else MIN_READ_AHEAD
        got = _read_exactly(self.raw, want if want >= self._window else self._window)
        self._buf, self._buf_start, self._fetched_to = got, start, start + len(got)
        data = have + got[:want]
        self._pos += len(data)
        return data

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.raw.close()
            self._buf = b""
        super().close()


def _read_exactly(raw: Any, size: int) -> bytes:
    """``size`` bytes from ``raw`` (fewer only at its end)."""
    chunks, left = [], size
    while left > 0:
        chunk = raw.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)

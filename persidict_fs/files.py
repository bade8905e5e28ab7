"""Files of the filesystem view open for writing: committed whole, on close.

A file opened for writing is buffered and committed in one atomic store
write on ``close`` (or on the transaction's commit), never half-written.
Leaving a ``with`` block by an exception discards the buffer. (Files open
for reading are the store's own: ``PersiDictFileSystem.open_stored``.)
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any


class StagedFile(io.BytesIO):
    """A value being written (``wb``, ``xb``, ``ab``): buffered, committed on close.

    ``commit_bytes`` stores the finished bytes atomically, or raises and
    leaves the stored value as it was.
    """

    def __init__(
        self,
        fs: Any,
        path: str,
        mode: str,
        commit_bytes: Callable[[bytes], None],
        initial: bytes = b"",
        autocommit: bool = True,
    ) -> None:
        super().__init__()
        self.fs = fs
        self.path = path
        self.mode = mode  # type: ignore[misc]
        self.autocommit = autocommit
        self._commit_bytes = commit_bytes
        self._staged: bytes | None = None
        if initial:
            super().write(initial)

    def readable(self) -> bool:
        return False

    def read(self, size: int | None = -1) -> bytes:
        raise io.UnsupportedOperation(f"{self.path} is open for writing")

    def close(self) -> None:
        if self.closed:
            return
        self._staged = self.getvalue()
        super().close()
        if self.autocommit:
            self.commit()

    def commit(self) -> None:
        """Store the written bytes (called by ``close``, or by a transaction)."""
        if self._staged is None:
            return
        data, self._staged = self._staged, None
        self._commit_bytes(data)

    def discard(self) -> None:
        """Drop the written bytes; the stored value stays as it was."""
        self._staged = None
        if not self.closed:
            super().close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()


MIN_READ_AHEAD = 64 << 10
MAX_READ_AHEAD = 4 << 20


class ReadAhead(io.BufferedIOBase):
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

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            base = 0
        elif whence == io.SEEK_CUR:
            base = self._pos
        else:
            base = self.raw.seek(0, io.SEEK_END)
        self._pos = max(0, base + offset)
        return self._pos

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

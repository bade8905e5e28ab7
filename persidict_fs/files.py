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

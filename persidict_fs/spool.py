"""Bytes of a file being written: in memory up to a threshold, then in an anonymous temp file.

The view's files open for writing and the mount's writers hold what is
written in a :class:`Spool`, so memory stays bounded whatever the file's
size, and commit it with one store write from :meth:`Spool.payload` (a
callable that streams the temp file into the store's own temp file).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO

SPILL_THRESHOLD = 16 << 20  # a writer's bytes beyond this go to a temp file
COPY_BLOCK = 1 << 20


class Spool:
    """Bytes of a file being written: in memory up to ``threshold``, then in a temp file.

    The temp file is anonymous (unlinked at birth, in ``folder``): a crash of
    the server leaves nothing behind.
    """

    def __init__(self, threshold: int = SPILL_THRESHOLD, folder: str | None = None) -> None:
        self.threshold = threshold
        self.folder = folder
        self.size = 0
        self._mem: bytearray | None = bytearray()
        self._file: BinaryIO | None = None

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def _spill(self) -> None:
        self._file = tempfile.TemporaryFile(dir=self.folder)  # noqa: SIM115 (closed in close())
        self._file.write(self._mem)  # type: ignore[arg-type]
        self._mem = None

    def write(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        if self._mem is not None and end > self.threshold:
            self._spill()
        if self._mem is not None:
            if offset > len(self._mem):
                self._mem.extend(bytes(offset - len(self._mem)))
            self._mem[offset:end] = data
        else:
            os.pwrite(self._file.fileno(), data, offset)  # type: ignore[union-attr]
        self.size = max(self.size, end)

    def truncate(self, length: int) -> None:
        if self._mem is not None and length > self.threshold:
            self._spill()
        if self._mem is not None:
            del self._mem[length:]
            self._mem.extend(bytes(length - len(self._mem)))
        else:
            os.ftruncate(self._file.fileno(), length)  # type: ignore[union-attr]
        self.size = length

    def read(self, offset: int, size: int) -> bytes:
        if self._mem is not None:
            return bytes(self._mem[offset : offset + size])
        return os.pread(self._file.fileno(), size, offset)  # type: ignore[union-attr]

    def payload(self, note: Callable[[str], None]) -> bytes | Callable[[BinaryIO], None]:
        """The bytes to store: themselves if small, else a callable copying the temp file.

        ``note`` is told the path of the file the store hands the callable, if it has one.
        """
        if self._mem is not None:
            return bytes(self._mem)

        def copy_into(out: BinaryIO) -> None:
            fileno = _fileno(out)
            if fileno is not None:
                note(os.readlink(f"/proc/self/fd/{fileno}"))
            offset = 0
            while offset < self.size:
                block = os.pread(self._file.fileno(), min(COPY_BLOCK, self.size - offset), offset)  # type: ignore[union-attr]
                if not block:
                    break
                out.write(block)
                offset += len(block)

        return copy_into

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._mem = bytearray()
        self.size = 0


def _fileno(f: BinaryIO) -> int | None:
    try:
        return f.fileno()
    except (AttributeError, io.UnsupportedOperation, OSError):
        return None

"""Where a file object of the store is: ``tell`` and ``seek``, one rule for all of them.

The ranged reader of S3 objects, the mount's read-ahead over it and the
view's writable files each keep a position; a seek before the start is
refused as Python's files refuse it, naming the file; one past the end is
allowed (a read there gives ``b""``, a write there leaves a hole of zeros);
either on a closed file is a ValueError.
"""

from __future__ import annotations

import io


class Positioned:
    """``tell``/``seek`` over ``_pos``, for a file object ``name`` whose size is ``_end()``."""

    _pos = 0

    @property
    def name(self) -> str:
        """The file, as errors name it."""
        raise NotImplementedError

    def _end(self) -> int:
        """The size of the file: where ``SEEK_END`` counts from."""
        raise NotImplementedError

    def _check_open(self) -> None:
        if getattr(self, "closed", False):
            raise ValueError(f"I/O operation on closed file {self.name}")

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            base = 0
        elif whence == io.SEEK_CUR:
            base = self._pos
        elif whence == io.SEEK_END:
            base = self._end()
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2) in {self.name}")
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset} in {self.name}")
        self._pos = base + offset
        return self._pos

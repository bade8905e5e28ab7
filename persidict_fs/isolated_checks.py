"""Checks of written bytes in a process of their own, so that a crash costs one write.

The mount server checks every key's bytes before storing them (json decodes
them as data, bounded). The decoders are bounded and fuzzed, but they call
numpy and pandas, whose C code a crafted document could still crash: the
server would die with every open file. :class:`IsolatedChecks` runs each
check in one worker process (spawned, never forked from the threaded
server); a worker that dies fails that one write with a ``FormatError``
naming the file, and the next check starts a new worker. The pkl check
reads opcodes only and runs in place.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from persidict.formats import Format, FormatError


def _validate(fmt: Format, data: bytes, where: str) -> None:
    fmt.validate(data, where)


def _quiet() -> None:
    """The worker writes nothing to the server's log: left behind by a server that
    ends without waiting for it (``os._exit``), it would print a traceback there."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


class IsolatedChecks:
    """``validate(fmt, data, where)`` in a worker process; a crash fails only that check."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def validate(self, fmt: Format, data: bytes, where: str) -> None:
        """Raise what ``fmt.validate`` raises; FormatError if the checking process died."""
        if fmt.name == "pkl":  # a walk of the opcodes: nothing to crash
            fmt.validate(data, where)
            return
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=_quiet)
            pool = self._pool
        try:
            pool.submit(_validate, fmt, data, where).result()
        except BrokenProcessPool as exc:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False)
            raise FormatError(
                f"checking {where} crashed the checking process ({exc}); nothing was stored"
            ) from None

    def close(self) -> None:
        """Stop the worker (a new one starts at the next check)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

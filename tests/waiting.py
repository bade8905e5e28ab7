"""Waiting for an event in tests: poll a condition until it holds, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], object], what: str = "the condition", timeout: float = 60):
    """Poll ``condition`` until it returns something true, and return that.

    The timeout only bounds a hang (it is far beyond any expected wait): an
    AssertionError names ``what`` never happened.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)

"""The retry budget of the GCS and Azure request layers: how often, how long, how far apart.

An idempotent request is tried at most ``max_attempts`` times, and no new
try starts once ``patience`` x ``request_timeout`` has passed since the
first (1.5: a silent endpoint fails an operation within about two timeouts;
2.5 for the read-back that settles a lost reply, worth more tries). Pauses
are jittered and grow exponentially, longer after a throttling answer.
"""

from __future__ import annotations

import random
import time

PATIENCE = 1.5
READ_BACK_PATIENCE = 2.5


class RetryBudget:
    """Mixed into a request layer that sets ``max_attempts``, ``request_timeout`` and says
    which failures are ``transient`` and which ``refused`` (throttled)."""

    max_attempts: int
    request_timeout: float

    @staticmethod
    def transient(exc: BaseException) -> bool:
        raise NotImplementedError

    @staticmethod
    def refused(exc: BaseException) -> bool:
        raise NotImplementedError

    def may_retry(
        self, exc: BaseException, attempt: int, start: float, patience: float = PATIENCE
    ) -> bool:
        """True if a request that failed with ``exc`` on try ``attempt`` may be sent again."""
        return (
            self.transient(exc)
            and attempt + 1 < self.max_attempts
            and time.monotonic() - start < patience * self.request_timeout
        )

    def pause(self, attempt: int, exc: BaseException | None = None) -> float:
        """Jittered exponential back-off before try ``attempt + 1`` (longer when throttled)."""
        base = 0.2 if exc is not None and self.refused(exc) else 0.05
        return random.uniform(base / 2, min(2.0, base * 2**attempt))

"""ETag-conditional operations of a PersiDict, atomic on every store.

Each operation maps to one of the store's atomic primitives, so the check
and the change happen as one step on the backend, never check-then-act:

============================  =========================================
insert if absent              ``store.create`` (local ``os.link``; S3 ``If-None-Match: *``)
replace if ETag is E          ``store.write_if`` (local flock'd commit; S3 ``If-Match``)
delete if ETag is E           ``store.delete_if`` (same)
read unless ETag is E         ``store.read_if_changed`` (S3 conditional GET, 304)
============================  =========================================

Conditions that a primitive cannot express directly (``ANY_ETAG``,
``ETAG_HAS_CHANGED``) observe the current ETag A, decide, then commit
conditionally on A; if another writer got in between, they observe again.
So every outcome is the result of one atomic commit.
"""

from __future__ import annotations

import random
import time
from typing import Any, cast

from persidict.conditions import (
    ALWAYS_RETRIEVE,
    ANY_ETAG,
    ETAG_IS_THE_SAME,
    IF_ETAG_CHANGED,
    ITEM_NOT_AVAILABLE,
    NEVER_RETRIEVE,
    VALUE_NOT_RETRIEVED,
    ConditionalOperationResult,
    ETagValue,
    OperationResult,
    check_retrieve_flag,
    condition_holds,
)
from persidict.dicts.commits import Commits
from persidict.errors import ConcurrencyConflictError
from persidict.jokers import DELETE_CURRENT, KEEP_CURRENT, Joker
from persidict.storage.base import MISSING, PreconditionFailed

_ATTEMPTS = 100  # losing this many commits in a row means something is wrong
Result = ConditionalOperationResult


def _backoff(attempt: int) -> float:
    """Jittered exponential pause after the ``attempt``-th lost race (at most 1 s)."""
    return random.uniform(0, min(1.0, 0.01 * 2**attempt))


def _check_expected(expected: Any) -> None:
    if expected is not ITEM_NOT_AVAILABLE and not isinstance(expected, str):
        raise TypeError(
            f"expected_etag must be an ETag str or ITEM_NOT_AVAILABLE, not {expected!r}"
        )


class ConditionalMixin(Commits):
    """``etag``, ``get_with_etag``, ``*_if`` and ``transform_item``, over the one write path."""

    def etag(self, key: Any) -> ETagValue:
        """The ETag of the stored version of ``key``; KeyError if absent."""
        path = self._path(key)
        try:
            return ETagValue(cast(str, self.store.info(path).etag))
        except MISSING:
            raise KeyError(key) from None

    def _observe(self, path: str, expected: Any, retrieve: Any) -> tuple[Any, Any]:
        """The current ``(etag, value)`` of ``path`` in one request; value per ``retrieve``."""
        try:
            if retrieve is NEVER_RETRIEVE:
                return ETagValue(cast(str, self.store.info(path).etag)), VALUE_NOT_RETRIEVED
            if retrieve is IF_ETAG_CHANGED and expected is not ITEM_NOT_AVAILABLE:
                data, etag = self.store.read_if_changed(path, expected)
                if data is None:
                    return ETagValue(etag), VALUE_NOT_RETRIEVED
            else:
                data, etag = self.store.read_with_etag(path)
        except MISSING:
            return ITEM_NOT_AVAILABLE, ITEM_NOT_AVAILABLE
        return ETagValue(etag), self._decode(data, path)

    def _commit_if(self, key: Any, path: str, data: Any, actual: Any, blind: bool) -> Any:
        """Store ``data`` (None: delete) if ``path`` is still at ``actual``; the new ETag.

        ``blind`` writes over whatever is stored (ANY_ETAG). Raises
        PreconditionFailed if another writer changed ``path`` since ``actual``
        was observed. The dict's rules apply as in ``d[k] = v`` (``_commit``).
        """
        if data is None:
            if actual is ITEM_NOT_AVAILABLE:
                return ITEM_NOT_AVAILABLE
            self._delete(key, path, actual)
            return ITEM_NOT_AVAILABLE
        expected = None if blind and actual is not ITEM_NOT_AVAILABLE else actual
        etag = self._commit(key, path, data, expected)
        if etag is None:
            if expected is ITEM_NOT_AVAILABLE:
                raise PreconditionFailed(path)  # created by another writer meanwhile
            return actual  # a write-once dict kept the value it holds
        return ETagValue(etag)

    def get_with_etag(self, key: Any) -> Result:
        """The value and its ETag, read together (``new_value``, ``actual_etag``)."""
        absent, always = ITEM_NOT_AVAILABLE, ALWAYS_RETRIEVE
        return self.get_item_if(
            key, condition=ANY_ETAG, expected_etag=absent, retrieve_value=always
        )

    def get_item_if(
        self, key: Any, *, condition: Any, expected_etag: Any, retrieve_value: Any = IF_ETAG_CHANGED
    ) -> Result:
        """Read ``key`` and report whether ``condition`` holds; never a KeyError.

        With ``IF_ETAG_CHANGED`` (default) and an expected ETag, this is one
        conditional read: if the ETag is unchanged the value is not transferred
        (``new_value`` is VALUE_NOT_RETRIEVED).
        """
        check_retrieve_flag(retrieve_value)
        _check_expected(expected_etag)
        actual, value = self._observe(self._path(key), expected_etag, retrieve_value)
        return Result(condition_holds(condition, expected_etag, actual), actual, actual, value)

    def set_item_if(
        self,
        key: Any,
        *,
        value: Any,
        condition: Any,
        expected_etag: Any,
        retrieve_value: Any = IF_ETAG_CHANGED,
    ) -> Result:
        """Store ``value`` (or apply a joker) only if ``condition`` holds, atomically."""
        check_retrieve_flag(retrieve_value)
        _check_expected(expected_etag)
        condition_holds(condition, expected_etag, expected_etag)  # rejects unknown conditions
        path = self._path(key)
        if value is KEEP_CURRENT:
            actual, current = self._observe(path, expected_etag, retrieve_value)
            holds = condition_holds(condition, expected_etag, actual)
            return Result(holds, actual, actual, current)
        data = None if value is DELETE_CURRENT else self._payload(value, key)
        # A write expecting absence is an exclusive create, which checks it; a delete
        # expecting absence checks nothing, so it looks first.
        if condition is ETAG_IS_THE_SAME and not (
            data is None and expected_etag is ITEM_NOT_AVAILABLE
        ):
            # Optimistic: the conditional commit itself checks the ETag.
            actual, current, look = expected_etag, VALUE_NOT_RETRIEVED, retrieve_value
        else:
            # Observe first; fetch the value only if a refusal must report it.
            look = ALWAYS_RETRIEVE if retrieve_value is ALWAYS_RETRIEVE else NEVER_RETRIEVE
            actual = None
        for _ in range(_ATTEMPTS):
            if actual is None:
                actual, current = self._observe(path, expected_etag, look)
            if not condition_holds(condition, expected_etag, actual):
                return Result(False, actual, actual, current)
            try:
                etag = self._commit_if(key, path, data, actual, blind=condition is ANY_ETAG)
            except PreconditionFailed:
                actual = None  # another writer committed first: look again
                continue
            new_value = ITEM_NOT_AVAILABLE if data is None else value
            return Result(True, actual, etag, new_value)
        raise ConcurrencyConflictError(key, _ATTEMPTS)

    def setdefault_if(
        self,
        key: Any,
        *,
        default_value: Any,
        condition: Any,
        expected_etag: Any,
        retrieve_value: Any = IF_ETAG_CHANGED,
    ) -> Result:
        """Insert ``default_value`` if ``key`` is absent and ``condition`` holds for absence.

        The insert is an atomic exclusive create: of many racing callers,
        exactly one inserts. A present key is never changed.
        """
        if isinstance(default_value, Joker):
            raise TypeError("default_value must be a value, not a joker")
        check_retrieve_flag(retrieve_value)
        _check_expected(expected_etag)
        path = self._path(key)
        data = self._payload(default_value, key)
        may_insert = condition_holds(condition, expected_etag, ITEM_NOT_AVAILABLE)
        for _ in range(_ATTEMPTS):
            if may_insert:
                etag = self._commit(key, path, data, ITEM_NOT_AVAILABLE)
                if etag is not None:
                    return Result(True, ITEM_NOT_AVAILABLE, ETagValue(etag), default_value)
            actual, current = self._observe(path, expected_etag, retrieve_value)
            if actual is ITEM_NOT_AVAILABLE:
                if may_insert:
                    continue  # deleted between our create and our read
                return Result(False, actual, actual, actual)
            holds = condition_holds(condition, expected_etag, actual)
            return Result(holds, actual, actual, current)
        raise ConcurrencyConflictError(key, _ATTEMPTS)

    def discard_if(self, key: Any, *, condition: Any, expected_etag: Any) -> Result:
        """Delete ``key`` only if ``condition`` holds, atomically."""
        self._check_mutable(key, "discard")  # whatever the condition, as persidict 0.309.0
        _check_expected(expected_etag)
        condition_holds(condition, expected_etag, expected_etag)
        path = self._path(key)
        optimistic = condition is ETAG_IS_THE_SAME and expected_etag is not ITEM_NOT_AVAILABLE
        actual = expected_etag if optimistic else None
        for _ in range(_ATTEMPTS):
            if actual is None:
                actual, _ = self._observe(path, expected_etag, NEVER_RETRIEVE)
            if not condition_holds(condition, expected_etag, actual):
                value = ITEM_NOT_AVAILABLE if actual is ITEM_NOT_AVAILABLE else VALUE_NOT_RETRIEVED
                return Result(False, actual, actual, value)
            try:
                self._commit_if(key, path, None, actual, blind=False)
            except PreconditionFailed:
                actual = None
                continue
            return Result(True, actual, ITEM_NOT_AVAILABLE, ITEM_NOT_AVAILABLE)
        raise ConcurrencyConflictError(key, _ATTEMPTS)

    def transform_item(
        self, key: Any, *, transformer: Any, n_retries: int | None = 6
    ) -> OperationResult:
        """Replace the value of ``key`` by ``transformer(value)``, atomically.

        ``transformer`` gets the current value (ITEM_NOT_AVAILABLE if absent)
        and returns the new value, KEEP_CURRENT or DELETE_CURRENT. The result
        is committed only if nobody wrote ``key`` meanwhile; otherwise the
        transformer runs again on the newer value, up to ``n_retries`` more
        times (None: until it succeeds), then ConcurrencyConflictError.

        >>> d.transform_item("counter", transformer=lambda v: v + 1)  # doctest: +SKIP
        """
        if n_retries is not None and (not isinstance(n_retries, int) or n_retries < 0):
            raise ValueError(f"n_retries must be an int >= 0 or None, not {n_retries!r}")
        path = self._path(key)
        attempt = 0
        while True:
            actual, current = self._observe(path, ITEM_NOT_AVAILABLE, ALWAYS_RETRIEVE)
            new_value = transformer(current)
            if new_value is KEEP_CURRENT:
                return OperationResult(actual, current)
            data = None if new_value is DELETE_CURRENT else self._payload(new_value, key)
            try:
                etag = self._commit_if(key, path, data, actual, blind=False)
            except PreconditionFailed:
                if n_retries is not None and attempt >= n_retries:
                    raise ConcurrencyConflictError(key, attempt + 1) from None
                time.sleep(_backoff(attempt))
                attempt += 1
                continue
            return OperationResult(etag, ITEM_NOT_AVAILABLE if data is None else new_value)

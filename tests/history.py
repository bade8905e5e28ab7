"""Recorded histories of concurrent dict operations, and a per-key linearizability checker.

Writers in several processes run random operations on a few keys and record
each call: when it was invoked and when it returned (``time.monotonic_ns``,
one clock for every process of the machine), and what it returned, or that it
raised OutcomeUnknownError (it may have been applied, at any time after its
invocation, or never) or another error (the model promises it was not applied).

:func:`check` searches, key by key, for an order of the calls that respects
real time (a call that returned before another was invoked comes first) and
in which each call's result is what the sequential model gives (Wing & Gong's
search, memoized on the set of calls placed and the value). Values written are
unique, so a value seen twice, lost or resurrected has no such order.
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from persidict import ITEM_NOT_AVAILABLE, OutcomeUnknownError
from persidict.conditions import ETAG_IS_THE_SAME

ABSENT = "absent"  # what a read of a missing key, or pop's default, records
KEYS = ("k0", "k1", "k2")
SUB = "s"  # every key lives in this sub-dict, which ``clear`` empties


@dataclass(frozen=True)
class Call:
    """One operation on one key, as one process saw it."""

    proc: int
    key: str
    op: str
    arg: Any
    start: int
    end: float  # inf when the outcome is unknown
    status: str  # "ok", "unknown" or "failed" (typed error: not applied)
    result: Any = None


def _plus_one(v: Any) -> int:
    return (0 if v is ITEM_NOT_AVAILABLE else v) + 1


def _run(d: Any, op: str, key: str, arg: Any) -> dict[str, Any]:
    """Perform ``op``; ``{key: result}`` for every key it touched."""
    sub = d.get_subdict(SUB)
    if op == "set":
        sub[key] = arg
        return {key: None}
    if op == "get":
        return {key: sub.get(key, ABSENT)}
    if op == "del":
        try:
            del sub[key]
        except KeyError:
            return {key: "KeyError"}
        return {key: None}
    if op == "setdefault":
        return {key: sub.setdefault(key, arg)}
    if op == "pop":
        return {key: sub.pop(key, ABSENT)}
    if op == "transform":
        return {key: sub.transform_item(key, transformer=_plus_one, n_retries=None).new_value}
    if op == "setdefault_if":
        result = sub.setdefault_if(
            key, default_value=arg, condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE
        )
        return {key: result.condition_was_satisfied}
    if op == "set_if":  # arg: (value read, its ETag, new value)
        result = sub.set_item_if(
            key, value=arg[2], condition=ETAG_IS_THE_SAME, expected_etag=arg[1]
        )
        return {key: result.condition_was_satisfied}
    if op == "discard_if":
        result = sub.discard_if(key, condition=ETAG_IS_THE_SAME, expected_etag=arg[1])
        return {key: result.condition_was_satisfied}
    if op == "setitems":
        sub.setitems(arg)
        return dict.fromkeys(arg)
    if op == "delitems":
        sub.delitems(arg, missing_ok=True)
        return dict.fromkeys(arg)
    if op == "clear":
        sub.clear()
        return dict.fromkeys(KEYS)
    raise AssertionError(op)


OPS = (
    "set", "get", "get", "del", "setdefault", "pop", "transform", "transform",
    "setdefault_if", "set_if", "discard_if", "setitems", "delitems", "clear",
)  # fmt: skip


def _choose(rng: random.Random, value: int) -> tuple[str, str, Any]:
    op, key = rng.choice(OPS), rng.choice(KEYS)
    if op == "setitems":
        return op, "", {k: value + i for i, k in enumerate(rng.sample(KEYS, 2))}
    if op == "delitems":
        return op, "", rng.sample(KEYS, 2)
    return op, key, value


def writer(d: Any, proc: int, seed: int, ops: int, ready, go, out) -> None:
    """Run ``ops`` random operations on ``d`` and put the recorded calls on ``out``."""
    try:
        d.store.check_conditional_writes()  # probed before the faults start
        ready.wait(timeout=120)
        go.wait(timeout=120)
        rng = random.Random(seed)
        calls: list[Call] = []
        for i in range(ops):
            value = (proc + 1) * 10**7 + i * 1000  # unique; transforms add ones to it
            op, key, arg = _choose(rng, value)
            keys = list(arg) if op in ("setitems", "delitems") else [key]
            if op == "clear":
                keys = list(KEYS)
            if op in ("set_if", "discard_if"):  # on the version read just before
                read = _read_with_etag(d, proc, key, calls)
                if read is None:
                    continue
                arg = (*read, value)
            start = time.monotonic_ns()
            try:
                results = _run(d, op, key, arg)
                status, end = "ok", float(time.monotonic_ns())
            except OutcomeUnknownError:
                results, status, end = dict.fromkeys(keys), "unknown", float("inf")
            except (OSError, RuntimeError):
                # a batch stops at its first error, other keys may have been applied
                batch = op in ("setitems", "delitems", "clear")
                results, end = dict.fromkeys(keys), float("inf")
                status = "unknown" if batch else "failed"
            for k in keys:
                one = arg[k] if op == "setitems" else arg
                if op in ("set_if", "discard_if"):  # the model knows values, not ETags
                    one = (arg[0], arg[2]) if op == "set_if" else arg[0]
                calls.append(Call(proc, k, op, one, start, end, status, results[k]))
        out.put(calls)
    except BaseException as exc:
        out.put(f"{exc!r}\n{traceback.format_exc()}")


def _read_with_etag(d: Any, proc: int, key: str, calls: list[Call]) -> tuple | None:
    """``(value, etag)`` of ``key`` read and recorded as a get; None if absent or failed."""
    start = time.monotonic_ns()
    try:
        got = d.get_subdict(SUB).get_with_etag(key)
    except OSError:
        calls.append(Call(proc, key, "get", None, start, float("inf"), "failed"))
        return None
    value = ABSENT if got.new_value is ITEM_NOT_AVAILABLE else got.new_value
    calls.append(Call(proc, key, "get", None, start, float(time.monotonic_ns()), "ok", value))
    return None if value == ABSENT else (value, got.actual_etag)


def plain_writer(params: dict, encode: Callable[[Any], bytes], proc: int, ops: int, ready, go,
                 out) -> None:  # fmt: skip
    """A writer that knows nothing of write ids: boto3 PUTs of pickled values."""
    import boto3

    try:
        client = boto3.client(
            "s3",
            endpoint_url=params["endpoint_url"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        ready.wait(timeout=120)
        go.wait(timeout=120)
        rng = random.Random(proc)
        calls = []
        for i in range(ops):
            key, value = rng.choice(KEYS), (proc + 1) * 10**7 + i * 1000
            start = time.monotonic_ns()
            client.put_object(
                Bucket=params["bucket"],
                Key=f"{params['prefix']}/{SUB}/{key}.pkl",
                Body=encode(value),
            )
            calls.append(Call(proc, key, "set", value, start, float(time.monotonic_ns()), "ok"))
            time.sleep(rng.uniform(0, 0.05))  # spread over the faulty writers' run
        out.put(calls)
    except BaseException as exc:
        out.put(f"{exc!r}\n{traceback.format_exc()}")


# the sequential model of one key: the value, or None when absent
def _steps(state: Any, c: Call) -> Iterator[tuple[Any, Any]]:
    """``(new state, result)`` for each way ``c`` may act on ``state``."""
    if c.op == "set":
        yield c.arg, None
    elif c.op == "get":
        yield state, ABSENT if state is None else state
    elif c.op == "del":  # S3 cannot delete exclusively: two racing dels may both succeed
        yield None, None
        if state is None:
            yield None, "KeyError"
    elif c.op == "setdefault":
        yield (c.arg, c.arg) if state is None else (state, state)
    elif c.op == "pop":
        yield None, ABSENT if state is None else state
    elif c.op == "transform":
        new = (0 if state is None else state) + 1
        yield new, new
    elif c.op == "setdefault_if":
        yield (c.arg, True) if state is None else (state, False)
    elif c.op == "set_if":  # equal values have equal ETags (the MD5 of the same bytes)
        expected, new = c.arg
        yield (new, True) if state == expected else (state, False)
    elif c.op == "discard_if":
        yield (None, True) if state == c.arg else (state, False)
    elif c.op == "setitems":
        yield c.arg, None
    elif c.op == "delitems":
        yield None, None
    elif c.op == "clear":  # a key written after the listing is not removed
        yield None, None
        yield state, None
    else:
        raise AssertionError(c.op)


def linearizable(calls: list[Call]) -> bool:
    """Is there a real-time order of ``calls`` (one key) that the model explains?"""
    calls = sorted((c for c in calls if c.status != "failed"), key=lambda c: c.start)
    needed = sum(1 << i for i, c in enumerate(calls) if c.status == "ok")
    seen: set[tuple[int, Any]] = set()
    stack: list[tuple[int, Any]] = [(0, None)]
    while stack:
        done, state = stack.pop()
        if done & needed == needed:
            return True
        bound = min(c.end for i, c in enumerate(calls) if not done >> i & 1)
        for i, c in enumerate(calls):
            if done >> i & 1 or c.start > bound:
                continue
            for new, result in _steps(state, c):
                if c.status == "ok" and result != c.result:
                    continue
                here = (done | 1 << i, new)
                if here not in seen:
                    seen.add(here)
                    stack.append(here)
    return False


def check(calls: list[Call]) -> dict[str, int]:
    """Assert every key's history linearizable; counts of calls by status."""
    for key in KEYS:
        mine = [c for c in calls if c.key == key]
        shown = "\n".join(map(repr, sorted(mine, key=lambda c: c.start)))
        assert linearizable(mine), f"not linearizable: key {key}\n{shown}"
    unknown_reads = [c for c in calls if c.op == "get" and c.status == "unknown"]
    assert not unknown_reads, f"a read's outcome is never unknown: {unknown_reads}"
    counts: dict[str, int] = {}
    for c in calls:
        counts[c.status] = counts.get(c.status, 0) + 1
    return counts

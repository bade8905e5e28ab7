"""Histories of concurrent writers under every fault, checked linearizable per key.

Several processes run random mixed operations (set, get, del, setdefault, pop,
transform_item, setdefault_if, set_item_if and discard_if on the version just
read, setitems, delitems, a sub-dict's clear) through
the fault proxy, a share of all requests meeting a fault of every kind
(lost reply, 500 and bare 503 after forwarding, SlowDown, resets, truncation,
a reply stalled past the timeout); one more process writes the same keys with
plain boto3 PUTs, which carry no write ids. Every call is recorded and
:mod:`tests.history` proves the history linearizable key by key: acknowledged
effects survive, none is applied twice, and a call that raised a typed error
other than OutcomeUnknownError was not applied.
"""

from __future__ import annotations

import multiprocessing as mp
import uuid
from collections import Counter

import pytest

from persidict import S3Dict
from persidict.fault_proxy import FAULTS
from tests import history
from tests.conftest import BUCKET
from tests.fault_fixtures import proxy_fixture  # noqa: F401
from tests.history import Call, check, linearizable

CONTEXT = mp.get_context("spawn")


def run_history(proxy, s3_options, *, writers: int, ops: int, rate: float, seed: int):
    """Run the writers (and one plain writer) at fault ``rate``; the recorded calls and
    how many requests met each fault."""
    prefix = f"history-{uuid.uuid4().hex[:10]}"
    d = S3Dict(
        BUCKET,
        prefix,
        create_bucket=False,
        **{**s3_options, "endpoint_url": proxy.url, "request_timeout": 1.0},
    )
    direct = S3Dict(BUCKET, prefix, create_bucket=False, **s3_options)
    ready = CONTEXT.Barrier(writers + 2)
    go, out = CONTEXT.Event(), CONTEXT.Queue()
    procs = [
        CONTEXT.Process(target=history.writer, args=(d, p, seed * 100 + p, ops, ready, go, out))
        for p in range(writers)
    ]
    plain = {"endpoint_url": s3_options["endpoint_url"], "bucket": BUCKET, "prefix": prefix}
    procs.append(
        CONTEXT.Process(
            target=history.plain_writer,
            args=(plain, direct.format.encode, writers, ops // 4, ready, go, out),
        )
    )
    for p in procs:
        p.start()
    try:
        ready.wait(timeout=120)
        proxy.set_rate(rate, FAULTS, seed=seed)
        go.set()
        calls: list[Call] = []
        for _ in procs:
            got = out.get(timeout=600)
            assert not isinstance(got, str), got
            calls.extend(got)
        faults = Counter(r.fault for r in list(proxy.seen) if r.fault)
    finally:
        proxy.clear()
        for p in procs:
            p.join(60)
    return calls, faults


def test_the_checker_rejects_a_lost_acknowledged_write():
    calls = [
        Call(0, "k0", "set", 1, 0, 10, "ok"),
        Call(1, "k0", "transform", 0, 20, 30, "ok", 2),
        Call(0, "k0", "get", 0, 40, 50, "ok", 1),  # the transform was undone
    ]
    assert not linearizable(calls)
    assert linearizable(calls[:2])


def test_the_checker_rejects_a_value_inserted_twice():
    calls = [
        Call(0, "k0", "setdefault", 5, 0, float("inf"), "unknown"),
        Call(1, "k0", "pop", 0, 10, 20, "ok", 5),
        Call(2, "k0", "pop", 0, 30, 40, "ok", 5),  # the same insert popped twice
    ]
    assert not linearizable(calls)
    assert linearizable(calls[:2])


def test_the_checker_rejects_a_failed_call_that_was_applied():
    calls = [Call(0, "k0", "set", 7, 0, 10, "failed"), Call(1, "k0", "get", 0, 20, 30, "ok", 7)]
    assert not linearizable(calls)
    assert linearizable([calls[0], Call(1, "k0", "get", 0, 20, 30, "ok", "absent")])


def test_concurrent_writers_under_every_fault_are_linearizable_per_key(proxy, s3_options):
    calls, faults = run_history(proxy, s3_options, writers=5, ops=50, rate=0.25, seed=18)
    counts = check(calls)
    assert counts.get("ok", 0) > len(calls) // 2  # the run did work, not only fail
    assert set(faults) == set(FAULTS)  # every kind met some request
    print(f"history: {len(calls)} calls, {counts}, faults {dict(faults)}")


@pytest.mark.soak
def test_concurrent_writers_under_every_fault_for_the_whole_time(proxy, s3_options, soak_seconds):
    import time

    deadline, seed, total = time.monotonic() + soak_seconds, 1, Counter()
    while seed == 1 or time.monotonic() < deadline:
        calls, faults = run_history(proxy, s3_options, writers=6, ops=100, rate=0.25, seed=seed)
        total.update(check(calls))
        total.update(faults)
        seed += 1
    print(f"history soak: {seed - 1} rounds, {dict(total)}")

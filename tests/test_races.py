"""Races between processes on one store: every atomic operation has exactly one winner.

Workers are separate processes (``forkserver``), handed the dict object
itself (it pickles as its address), released together by a barrier.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter

import pytest

from persidict import ETAG_IS_THE_SAME, ITEM_NOT_AVAILABLE, MutationPolicyError

N_KEYS = 200  # scripts/soak runs rounds of 500 for minutes
CONTEXT = mp.get_context("forkserver")


def run_workers(target, args_per_worker: list[tuple]) -> list:
    """Run ``target(*args)`` in one process per args tuple, all released at once."""
    barrier = CONTEXT.Barrier(len(args_per_worker))
    results = CONTEXT.Queue()
    procs = [
        CONTEXT.Process(target=_worker, args=(target, barrier, results, i, args))
        for i, args in enumerate(args_per_worker)
    ]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    errors = [o for o in outcomes.values() if isinstance(o, BaseException)]
    if errors:
        raise errors[0]
    return [outcomes[i] for i in range(len(procs))]


def _worker(target, barrier, results, index, args) -> None:
    try:
        barrier.wait(timeout=60)
        results.put((index, target(*args)))
    except BaseException as exc:
        results.put((index, exc))


def insert_with_setdefault_if(d, worker: int, keys: list[str]) -> list[str]:
    won = []
    for key in keys:
        result = d.setdefault_if(
            key, default_value=worker, condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE
        )
        if result.value_was_mutated:
            won.append(key)
    return won


def insert_append_only(d, worker: int, keys: list[str]) -> list[str]:
    won = []
    for key in keys:
        try:
            d[key] = worker
        except MutationPolicyError:
            continue
        won.append(key)
    return won


def increment(d, key: str, times: int) -> int:
    """Add 1 ``times`` times; returns how often the transformer ran (retries included)."""
    calls = 0

    def plus_one(value: int) -> int:
        nonlocal calls
        calls += 1
        return value + 1

    for _ in range(times):
        # Every increment must land, so no retry budget: with the default
        # n_retries=6 a worker losing 7 races in a row gets ConcurrencyConflictError.
        d.transform_item(key, transformer=plus_one, n_retries=None)
    return calls


@pytest.mark.parametrize("insert", [insert_with_setdefault_if, insert_append_only])
def test_insert_if_absent_has_exactly_one_winner_per_key(shared_backend, insert):
    d = shared_backend.open(append_only=insert is insert_append_only)
    insert_race(d, insert, [f"k{i}" for i in range(N_KEYS)])


def insert_race(d, insert, keys: list[str]) -> None:
    """2 processes ``insert`` the same ``keys`` at once: exactly one wins each key."""
    won = run_workers(insert, [(d, worker, keys) for worker in range(2)])

    winners = Counter(key for keys_won in won for key in keys_won)
    assert set(winners) == set(keys)
    assert set(winners.values()) == {1}  # nobody lost a key it thought it won
    for worker, keys_won in enumerate(won):
        assert d.getitems(keys_won) == [worker] * len(keys_won)


def test_transform_item_counts_every_increment(shared_backend):
    increment_race(shared_backend.open(), "counter", 100)


def increment_race(d, key: str, times: int) -> None:
    """4 processes add 1 to ``d[key]`` ``times`` times each: every increment lands."""
    d[key] = 0
    calls = run_workers(increment, [(d, key, times)] * 4)
    # A check-then-act version of this loop ends near 1/4 of it; retries redo lost races.
    assert d[key] == 4 * times, f"transformer calls per worker: {calls}"

"""Long runs of the multi-process tests, for as long as asked: ``scripts/soak SECONDS``.

The suite runs each race once, for seconds; these repeat them (fresh keys per
round) on a local folder and on S3 until the time is up, so that rare
interleavings get their chance. Deselected from the suite by the ``soak`` marker.
"""

from __future__ import annotations

import time

import pytest

from persidict import FileDirDict
from tests import workers
from tests.test_concurrency import kill_a_writer_mid_write, overwriters_and_readers
from tests.test_races import (
    increment_race,
    insert_append_only,
    insert_race,
    insert_with_setdefault_if,
)

pytestmark = pytest.mark.soak


def rounds(seconds: float):
    """Round numbers 0, 1, ... until ``seconds`` have passed (at least one round)."""
    deadline = time.monotonic() + seconds
    n = 0
    while n == 0 or time.monotonic() < deadline:
        yield n
        n += 1


def test_overwriters_and_readers_for_the_whole_time(shared_backend, soak_seconds):
    overwriters_and_readers(shared_backend.open(), soak_seconds)


@pytest.mark.parametrize("insert", [insert_with_setdefault_if, insert_append_only])
def test_insert_races_round_after_round(shared_backend, insert, soak_seconds):
    d = shared_backend.open(append_only=insert is insert_append_only)
    for n in rounds(soak_seconds):
        insert_race(d, insert, [f"r{n}-k{i}" for i in range(500)])


def test_increment_races_round_after_round(shared_backend, soak_seconds):
    d = shared_backend.open()
    for n in rounds(soak_seconds):
        increment_race(d, f"counter{n}", 200)


def test_writers_killed_again_and_again_leave_whole_values(tmp_path, soak_seconds):
    d = FileDirDict(tmp_path / "store", "bytes")
    d["big"] = b"old"
    for _ in rounds(soak_seconds):
        kill_a_writer_mid_write(d, tmp_path / "store")
        assert list(d) == [("big",)]
        value = d["big"]
        assert value == b"old" or value == value[:32] * workers.BIG_REPEATS

"""Many processes on one store: no torn values, exactly one winner, shared pools."""

import multiprocessing as mp
import os
import signal
import time

from tests import workers

SPAWN = mp.get_context("spawn")


def test_overwriters_and_readers_never_see_torn_values(shared_backend):
    overwriters_and_readers(shared_backend.open(), seconds=3.0)


def overwriters_and_readers(d, seconds: float) -> None:
    """4 processes overwrite 5 keys for ``seconds`` while 2 read them: nothing torn."""
    keys = [f"k{i}" for i in range(5)]
    with SPAWN.Pool(6) as pool:
        writers = [pool.apply_async(workers.overwrite, (d, w, keys, seconds)) for w in range(4)]
        readers = [pool.apply_async(workers.read_and_check, (d, keys, seconds)) for _ in range(2)]
        last_seq = [w.get(timeout=seconds + 120) for w in writers]
        checks = [r.get(timeout=seconds + 120) for r in readers]
    assert sum(reads for reads, _ in checks) > 0
    assert [p for _, problems in checks for p in problems] == []
    for key in keys:
        final = d[key]
        assert workers.is_whole(final)
        assert final["seq"] <= last_seq[final["writer"]]
    assert sorted(d) == sorted((k,) for k in keys)


def test_setdefault_race_across_processes_has_one_winner(shared_backend):
    d = shared_backend.open()
    keys = [f"k{i:03d}" for i in range(100)]
    with SPAWN.Pool(4) as pool:
        wins = pool.starmap(workers.insert_if_absent, [(d, keys, racer) for racer in range(4)])
    won = [k for process_wins in wins for k in process_wins]
    assert sorted(won) == keys
    assert len(d) == 100


def test_a_pool_of_workers_shares_one_store(shared_backend):
    d = shared_backend.open()
    with SPAWN.Pool(3) as pool:
        done = pool.map(workers.square, [(d, i) for i in range(20)])
    assert sorted(done) == list(range(20))
    assert {k: d[k] for k in d} == {("sq", str(i)): i * i for i in range(20)}


def test_killed_writer_leaves_old_or_new_value_and_no_stray_key(tmp_path):
    from persidict import FileDirDict

    d = FileDirDict(tmp_path / "store", "bytes")
    d["big"] = b"old"
    kill_a_writer_mid_write(d, tmp_path / "store")
    assert list(d) == [("big",)]
    value = d["big"]
    assert value == b"old" or value == value[:32] * workers.BIG_REPEATS  # whole: old or new


def kill_a_writer_mid_write(d, folder) -> None:
    """Start a process overwriting ``d["big"]`` and kill -9 it while it writes a value."""
    from persidict.storage.base import is_temp_name

    def temp_files() -> set[str]:
        return {n for n in os.listdir(folder) if is_temp_name(n)}

    left_before = temp_files()  # by earlier kills
    for _ in range(5):  # until the kill lands mid-write (almost always the first time)
        child = SPAWN.Process(target=workers.write_forever, args=(d, "big"))
        child.start()
        while not temp_files() - left_before:  # wait for the event: a value being written
            assert child.is_alive()
            time.sleep(0.001)
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        if temp_files() - left_before:  # the temp file it was writing stays: killed mid-write
            return
    raise AssertionError("never killed mid-write")

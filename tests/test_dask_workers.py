"""Dicts passed as arguments to every task of a dask.distributed cluster of worker processes.

Each of 2,000 tasks gets an S3Dict (on the moto server) and a FileDirDict as
arguments, not scattered: every write lands in both stores, each worker
process builds one S3 store, and worker memory stays flat (each unpickled
S3Dict once built its own s3fs client: +700 MB after 100 tasks).
"""

from __future__ import annotations

import os
import uuid

import distributed
import pytest

from persidict import FileDirDict, S3Dict
from tests import workers
from tests.conftest import BUCKET

TASKS = 2000
RSS_GROWTH_MB = 150


def write_both(d3: S3Dict, local: FileDirDict, i: int) -> tuple[int, int]:
    """One task: one key into each dict; returns (worker pid, id of its S3 store)."""
    d3[f"k{i:04d}"] = i
    local[f"k{i:04d}"] = i
    return os.getpid(), id(d3.store)


# About 25 ms of CPU per task across the test process (moto, scheduler) and the
# workers: half a minute on 2 idle cores, 3-4 minutes on this shared machine at load 20.
@pytest.mark.timeout(900)
def test_dicts_passed_to_2000_tasks_land_every_write_with_flat_worker_memory(s3_options, tmp_path):
    d3 = S3Dict(BUCKET, f"dask-{uuid.uuid4().hex[:10]}", **s3_options)
    local = FileDirDict(base_dir=str(tmp_path / "local"))
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        before = client.run(workers.rss_mb)  # fresh workers: persidict not imported yet
        futures = client.map(write_both, [d3] * TASKS, [local] * TASKS, range(TASKS), pure=False)
        seen = client.gather(futures)
        after = client.run(workers.rss_mb)

    keys = {(f"k{i:04d}",) for i in range(TASKS)}
    assert set(d3.keys()) == set(local.keys()) == keys  # one LIST per 1,000 keys
    assert dict(local.items()) == {(f"k{i:04d}",): i for i in range(TASKS)}
    sample = [f"k{i:04d}" for i in range(0, TASKS, 20)]  # a GET each: a sample is enough here
    assert d3.getitems(sample) == list(range(0, TASKS, 20))
    stores: dict[int, set[int]] = {}
    for pid, store in seen:
        stores.setdefault(pid, set()).add(store)
    assert len(stores) == 2 and all(len(s) == 1 for s in stores.values()), stores
    growth = {w: after[w] - before[w] for w in before}
    print(f"worker RSS MB: before {before}, after {after}")  # shown with -s
    assert len(growth) == 2 and max(growth.values()) < RSS_GROWTH_MB, (before, after)

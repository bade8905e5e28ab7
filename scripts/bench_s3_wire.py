"""S3 over a slow network and in worker pools: ratios measured in one run.

1. set and get one by one through persidict.fault_proxy with a 20 ms round
   trip (moto behind it): set/get, and set with botocore's ``Expect:
   100-continue`` put back (what every small PUT cost before) against get.
2. A dict passed as an argument to every task of a spawn process pool
   (chunksize=1) against the same tasks reaching the dict through a worker
   global: the per-task cost of unpickling the dict.

    python scripts/bench_s3_wire.py [--n 40] [--tasks 200]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
import uuid

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from persidict import S3Dict
from persidict.fault_proxy import FaultProxy
from persidict.storage import s3_requests as s3_module
from persidict.testing import moto_server

BUCKET = "bench-wire"


def one_by_one(d: S3Dict, n: int) -> tuple[float, float]:
    """Seconds per set and per get, ``n`` of each, one at a time."""
    start = time.perf_counter()
    for i in range(n):
        d[f"k{i}"] = i
    set_s = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for i in range(n):
        d[f"k{i}"]
    return set_s, (time.perf_counter() - start) / n


def bench_rtt(endpoint: str, n: int, rounds: int = 3) -> None:
    with FaultProxy(endpoint, latency=0.020) as proxy:
        d = S3Dict(BUCKET, uuid.uuid4().hex[:8], endpoint_url=proxy.url)
        one_by_one(d, 3)  # connections and the conditional-write probe
        rows = {"set": [], "get": [], "set with Expect": []}
        for _ in range(rounds):
            set_s, get_s = one_by_one(d, n)
            rows["set"].append(set_s)
            rows["get"].append(get_s)
            kept = s3_module.EXPECT_CONTINUE_ABOVE
            s3_module.EXPECT_CONTINUE_ABOVE = -1  # botocore's header stays on every PUT
            try:
                rows["set with Expect"].append(one_by_one(d, n)[0])
            finally:
                s3_module.EXPECT_CONTINUE_ABOVE = kept
    get_ms = statistics.median(rows["get"]) * 1000
    print(f"\nS3 one by one through a 20 ms-RTT proxy (n={n}, median of {rounds} rounds)")
    print(f"{'operation':<18}{'ms/op':>8}{'vs get':>8}")
    for name, values in rows.items():
        ms = statistics.median(values) * 1000
        print(f"{name:<18}{ms:>8.1f}{ms / get_ms:>7.2f}x")


_GLOBAL: dict = {}


def _init(d: S3Dict) -> None:
    _GLOBAL["d"] = d


def task_with_dict(d: S3Dict, i: int) -> int:
    d[f"t{i}"] = i
    return os.getpid()


def task_with_global(i: int) -> int:
    _GLOBAL["d"][f"t{i}"] = i
    return os.getpid()


def bench_pool(endpoint: str, tasks: int) -> None:
    d = S3Dict(BUCKET, uuid.uuid4().hex[:8], endpoint_url=endpoint)
    context = mp.get_context("spawn")
    with context.Pool(2, initializer=_init, initargs=(d,)) as pool:
        pool.map(task_with_global, range(20), chunksize=1)  # workers up and warm
        pool.starmap(task_with_dict, [(d, i) for i in range(20)], chunksize=1)
        times = {"global": [], "argument": []}
        for _ in range(3):
            start = time.perf_counter()
            pool.map(task_with_global, range(tasks), chunksize=1)
            times["global"].append(time.perf_counter() - start)
            start = time.perf_counter()
            pool.starmap(task_with_dict, [(d, i) for i in range(tasks)], chunksize=1)
            times["argument"].append(time.perf_counter() - start)
    per_task = {k: statistics.median(v) / tasks * 1000 for k, v in times.items()}
    print(f"\nS3Dict passed to every task of a spawn Pool(2), chunksize=1 ({tasks} tasks)")
    print(f"dict from a worker global: {per_task['global']:.2f} ms/task")
    print(f"dict as a task argument:   {per_task['argument']:.2f} ms/task")
    print(f"per-task cost of the dict: {per_task['argument'] - per_task['global']:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()
    with moto_server() as endpoint:
        S3Dict(BUCKET, "x", endpoint_url=endpoint)  # makes the bucket
        bench_rtt(endpoint, args.n)
        bench_pool(endpoint, args.tasks)


if __name__ == "__main__":
    main()

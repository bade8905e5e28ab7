"""S3 over a slow network and in worker pools: ratios measured in one run.

1. set, get and del one by one through persidict.fault_proxy with a 20 ms
   round trip (moto behind it), each against get, with the requests each
   sends; and set with botocore's ``Expect: 100-continue`` put back (what
   every small PUT cost before).
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


def one_by_one(d: S3Dict, n: int, proxy: FaultProxy) -> dict[str, tuple[float, float]]:
    """Seconds and requests per set, get and del, ``n`` of each, one at a time."""
    steps = {
        "set": lambda i: d.__setitem__(f"k{i}", i),
        "get": lambda i: d[f"k{i}"],
        "del": lambda i: d.__delitem__(f"k{i}"),
    }
    out = {}
    for name, step in steps.items():
        proxy.seen.clear()
        start = time.perf_counter()
        for i in range(n):
            step(i)
        out[name] = ((time.perf_counter() - start) / n, len(proxy.seen) / n)
    return out


def bench_rtt(endpoint: str, n: int, rounds: int = 3) -> None:
    with FaultProxy(endpoint, latency=0.020) as proxy:
        d = S3Dict(BUCKET, uuid.uuid4().hex[:8], endpoint_url=proxy.url)
        one_by_one(d, 3, proxy)  # connections and the conditional-write probe
        rows: dict[str, list[tuple[float, float]]] = {
            "set": [], "get": [], "del": [], "set with Expect": []
        }  # fmt: skip
        for _ in range(rounds):
            for name, measured in one_by_one(d, n, proxy).items():
                rows[name].append(measured)
            kept = s3_module.EXPECT_CONTINUE_ABOVE
            s3_module.EXPECT_CONTINUE_ABOVE = -1  # botocore's header stays on every PUT
            try:
                rows["set with Expect"].append(one_by_one(d, n, proxy)["set"])
            finally:
                s3_module.EXPECT_CONTINUE_ABOVE = kept
    get_ms = statistics.median(s for s, _ in rows["get"]) * 1000
    print(f"\nS3 one by one through a 20 ms-RTT proxy (n={n}, median of {rounds} rounds)")
    print(f"{'operation':<18}{'ms/op':>8}{'vs get':>8}{'requests/op':>13}")
    for name, values in rows.items():
        ms = statistics.median(s for s, _ in values) * 1000
        requests = statistics.median(r for _, r in values)
        print(f"{name:<18}{ms:>8.1f}{ms / get_ms:>7.2f}x{requests:>13.2f}")


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

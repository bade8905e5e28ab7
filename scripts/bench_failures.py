"""Benchmark: how long refusals and failures take, against a success measured in the same run.

  refuse unpicklable  a pkl store refusing a threading.Lock, versus storing a small dict
  unreachable S3      a PUT to an endpoint nothing listens on (ConnectionError after
                      botocore's retries), versus one PUT to a moto server started here

Each figure is the median over rounds. The tests check what happens (the
error, the number of attempts); the time it takes is measured here only.

    .venv/bin/python scripts/bench_failures.py [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable

from persidict import open_dict
from persidict.formats import FormatError
from persidict.testing import free_port, moto_server


def median_seconds(action: Callable[[], None], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def expect(error: type[BaseException], action: Callable[[], None]) -> Callable[[], None]:
    """``action`` wrapped to require that it raises ``error``."""

    def run() -> None:
        try:
            action()
        except error:
            return
        raise AssertionError(f"expected {error.__name__}")

    return run


def refusal(rounds: int) -> tuple[float, float]:
    d = open_dict("memory://bench-failures/pkl")

    def store_lock() -> None:
        d["lock"] = threading.Lock()

    def store_dict() -> None:
        d["small"] = {"a": 1, "b": [1, 2, 3]}

    return median_seconds(expect(FormatError, store_lock), rounds), median_seconds(
        store_dict, rounds
    )


def unreachable(rounds: int) -> tuple[float, float]:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "testing")
    down = open_dict(f"s3://bench/x{free_port()}", endpoint_url="http://127.0.0.1:9")

    def put_down() -> None:
        down["k"] = 1

    with moto_server() as endpoint:
        up = open_dict("s3://bench-failures/x", endpoint_url=endpoint, create_bucket=True)
        up["k"] = 0  # the client and the bucket exist before timing

        def put_up() -> None:
            up["k"] = 1

        return median_seconds(expect(ConnectionError, put_down), rounds), median_seconds(
            put_up, rounds * 10
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    print(f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    failed, ok = refusal(rounds * 100)
    print(
        f"refuse unpicklable  {failed * 1e6:9.1f} us   store a small dict {ok * 1e6:9.1f} us"
        f"   ratio {failed / ok:6.2f}x"
    )
    failed, ok = unreachable(rounds)
    print(
        f"unreachable S3      {failed:9.2f} s    one PUT to moto    {ok * 1e3:9.1f} ms"
        f"   ratio {failed / ok:6.0f}x"
    )


if __name__ == "__main__":
    main()

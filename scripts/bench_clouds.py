"""Batches against loops on the cloud emulators: fake-gcs-server (GCS) and azurite (Azure).

For each, a dict writes, reads and deletes N small values one by one, then as
one batch (``setitems``, ``getitems``, ``delitems``: requests in flight
together on one event loop); prints each batch's speed-up over its loop,
measured in this run. The emulators run on 127.0.0.1 (no network round
trip), so the ratios show how much of a request's time is the client's own.

    .venv/bin/python scripts/bench_clouds.py [N] [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

from persidict import open_dict
from persidict.storage.azure import AzureStore
from persidict.storage.gcs import GCSStore
from persidict.testing import AZURITE_ACCOUNT, AZURITE_KEY, azurite_server, fake_gcs_server

BUCKET = "bench"


def timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def one_round(d, n: int) -> tuple[float, float, float]:
    """Loop time over batch time of set, get and delete, for ``n`` keys of a fresh dict."""
    keys = [f"k{i}" for i in range(n)]
    items = {k: i for i, k in enumerate(keys)}

    def loop_set() -> None:
        for k, v in items.items():
            d[k] = v

    def loop_get() -> None:
        for k in keys:
            d[k]

    def loop_delete() -> None:
        for k in keys:
            del d[k]

    loops = (timed(loop_set), timed(loop_get), timed(loop_delete))
    batches = (
        timed(lambda: d.setitems(items)),
        timed(lambda: d.getitems(keys)),
        timed(lambda: d.delitems(keys)),
    )
    set_, get, delete = (loop / batch for loop, batch in zip(loops, batches, strict=True))
    return set_, get, delete


def ratios(url: str, options: dict, n: int, rounds: int) -> dict[str, float]:
    """Loop time over batch time, per operation (median over ``rounds``)."""
    found = [one_round(open_dict(f"{url}/{uuid.uuid4().hex[:8]}", **options), n)
             for _ in range(rounds)]  # fmt: skip
    names = ("set", "get", "delete")
    return {name: statistics.median(r[i] for r in found) for i, name in enumerate(names)}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory() as tmp:
        with fake_gcs_server(f"{tmp}/gcs") as gcs:
            options = {"endpoint_url": gcs, "token": "anon", "project": "bench"}
            GCSStore(BUCKET, create_bucket=True, **options)
            report("GCS (fake-gcs-server)", ratios(f"gs://{BUCKET}", options, n, rounds), n)
        with azurite_server(f"{tmp}/azurite") as azure:
            options = {"endpoint_url": azure, "account_name": AZURITE_ACCOUNT,
                       "account_key": AZURITE_KEY}  # fmt: skip
            AzureStore(BUCKET, create_bucket=True, **options)
            report("Azure (azurite)", ratios(f"az://{BUCKET}", options, n, rounds), n)


def report(name: str, found: dict[str, float], n: int) -> None:
    shown = ", ".join(f"{op} x{ratio:.1f}" for op, ratio in found.items())
    print(f"{name}: batch of {n} vs loop: {shown}")


if __name__ == "__main__":
    main()

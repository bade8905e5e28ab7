"""Large values, batches and key iteration for scripts/bench.py (local stores).

Large values: a 50 MB float64 array and a 1M-row DataFrame, written and read
  through FileDirDict, and through the store with the format's streaming
  dump/load (``store.write(path, lambda f: fmt.dump(v, f))``,
  ``fmt.load(store.open_read(path))``), against np.save/np.load and
  to_parquet/read_parquet on a plain file. Each measurement runs in its own
  process, which reports the median time of 3 runs and the largest peak RSS
  of a run above the RSS it started with (Linux: VmHWM after a reset through
  /proc/self/clear_refs), freed memory given back to the system before each.
Batches: setitems/getitems/delitems against a loop of single operations.
Iteration: keys, len and the store's listing against a bare os.scandir count.
Contenders in the batch and iteration tables alternate, and each ratio is the
median of ratios of neighbouring runs, so machine noise hits both alike.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from bench_local import _scandir_count

MB = 1 << 20


# --- large values: one measurement per process ---


def _make(case: str):
    import numpy as np

    if case == "array":
        return np.random.default_rng(0).random(50 * MB // 8)
    import pandas as pd

    n = 1_000_000
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"a": rng.random(n), "b": rng.integers(0, 1000, n), "c": rng.random(n).astype("float32")}
    )


def _ways(case: str, root: str) -> dict[str, tuple[Callable, Callable]]:
    """name -> (write(value), read() -> value)."""
    import numpy as np
    import pandas as pd

    from persidict import FileDirDict
    from persidict.formats import get_format
    from persidict.storage.local import LocalStore

    ways: dict[str, tuple[Callable, Callable]] = {}
    plain = os.path.join(root, "plain")
    if case == "array":
        ways["np.save / np.load"] = (
            lambda v: np.save(plain + ".npy", v),
            lambda: np.load(plain + ".npy"),
        )
        names = ("pkl", "npy")
    else:
        ways["to_parquet / read_parquet"] = (
            lambda v: v.to_parquet(plain + ".parquet"),
            lambda: pd.read_parquet(plain + ".parquet"),
        )
        names = ("pkl", "parquet")
    store = LocalStore(os.path.join(root, "store"))
    for name in names:
        fmt = get_format(name)
        d = FileDirDict(os.path.join(root, f"dict-{name}"), serialization_format=name)
        ways[f"FileDirDict {name}"] = (
            lambda v, d=d: d.__setitem__("v", v),
            lambda d=d: d["v"],
        )
        path = f"v.{name}"

        def write(v, fmt=fmt, path=path):
            store.write(path, lambda f: fmt.dump(v, f))

        def read(fmt=fmt, path=path):
            with store.open_read(path) as f:
                return fmt.load(f, path)

        ways[f"store + streaming {name}"] = (write, read)
    return ways


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _give_back() -> None:
    """Return freed memory to the system (glibc's heap, pyarrow's pool).

    Otherwise a run reuses memory freed by the one before, and the peak above
    the base would miss what the run really needed.
    """
    import ctypes
    import gc

    gc.collect()
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def child(case: str, way: str, op: str, root: str) -> dict:
    value = _make(case)
    write, read = _ways(case, root)[way]
    write(value)  # the file to read, and warm imports
    if op == "read":
        del value
    times, peaks = [], []
    for _ in range(3):
        _give_back()
        _reset_peak()
        base = _rss_kb("VmRSS")
        start = time.perf_counter()
        result = write(value) if op == "write" else read()
        times.append(time.perf_counter() - start)
        peaks.append(_rss_kb("VmHWM") - base)
        del result
    return {"s": statistics.median(times), "peak_mb": max(peaks) / 1024}


def _run_child(case: str, way: str, op: str, folder: str | None) -> dict:
    root = tempfile.mkdtemp(dir=folder)
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", case, way, op, root],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench_big(folder: str | None, log) -> dict:
    """{case: {way: {op: {"s", "peak_mb"}}}}, medians of 3 runs per process."""
    results: dict = {}
    for case in ("array", "frame"):
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            names = list(_ways(case, scratch))
        for way in names:
            for op in ("write", "read"):
                log(f"large values: {case}, {way}, {op}")
                results.setdefault(case, {}).setdefault(way, {})[op] = _run_child(
                    case, way, op, folder
                )
    return results


def big_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    header = ["large value", "write s (x baseline)", "read s (x baseline)", "peak RSS write / read"]
    rows = []
    sizes = {"array": "50 MB array", "frame": "1M-row DataFrame"}
    for case, ways in results.items():
        base = next(iter(ways.values()))
        for way, r in ways.items():
            cells = [
                f"{r[op]['s']:.3f} ({base[op]['s'] / r[op]['s']:.2f}x)" for op in ("write", "read")
            ]
            rss = f"+{r['write']['peak_mb']:.0f} / +{r['read']['peak_mb']:.0f} MB"
            rows.append([f"{sizes[case]}: {way}", *cells, rss])
    return header, rows


# --- batches against loops ---


def _paired(runs: int, floor: Callable[[], object], other: Callable[[], object]) -> float:
    """Median over runs of floor time / other time, each pair run back to back."""
    ratios = []
    for i in range(runs):
        first, second = (floor, other) if i % 2 else (other, floor)
        t0 = time.perf_counter()
        first()
        t1 = time.perf_counter()
        second()
        t2 = time.perf_counter()
        floor_s, other_s = (t1 - t0, t2 - t1) if i % 2 else (t2 - t1, t1 - t0)
        ratios.append(floor_s / other_s)
    return statistics.median(ratios)


def _batch_round(root: str, keys: list, values: list) -> dict[str, float]:
    from persidict import FileDirDict

    loop_d = FileDirDict(os.path.join(root, "loop"))
    batch_d = FileDirDict(os.path.join(root, "batch"))

    def set_loop():
        for k, v in zip(keys, values, strict=True):
            loop_d[k] = v

    def get_loop():
        for k in keys:
            loop_d[k]

    def del_loop():
        for k in keys:
            del loop_d[k]

    return {
        "set": _paired(1, set_loop, lambda: batch_d.setitems(zip(keys, values, strict=True))),
        "get": _paired(1, get_loop, lambda: batch_d.getitems(keys)),
        "delete": _paired(1, del_loop, lambda: batch_d.delitems(keys)),
    }


def bench_batches(n: int, rounds: int, folder: str | None, log) -> dict[str, float]:
    """Loop time / batch time for setitems, getitems, delitems (above 1: batch faster)."""
    keys = [(f"g{i // 100:03d}", f"k{i:05d}") for i in range(n)]
    values = [os.urandom(100) for _ in range(n)]
    ratios: dict[str, list[float]] = {"set": [], "get": [], "delete": []}
    for r in range(rounds):
        log(f"batches: round {r + 1}/{rounds}")
        with tempfile.TemporaryDirectory(dir=folder) as root:
            for op, ratio in _batch_round(root, keys, values).items():
                ratios[op].append(ratio)
    return {op: statistics.median(v) for op, v in ratios.items()}


# --- iteration against a bare scandir count ---


def bench_iteration(runs: int, folder: str | None, log) -> dict[str, dict[str, float]]:
    from persidict import FileDirDict

    results = {}
    with tempfile.TemporaryDirectory(dir=folder) as root:
        shapes = {
            "flat, 4,000 keys": [(f"k{i:05d}",) for i in range(4000)],
            "two-level, 10,000 keys": [(f"g{i // 100:03d}", f"k{i:05d}") for i in range(10_000)],
        }
        for shape, keys in shapes.items():
            log(f"iteration: {shape}")
            d = FileDirDict(os.path.join(root, shape.split(",")[0]))
            d.setitems((k, b"x") for k in keys)
            top = d.store.root

            def floor(top=top):
                return _scandir_count(top)

            results[shape] = {
                "keys": _paired(runs, floor, lambda d=d: sum(1 for _ in d)),
                "len": _paired(runs, floor, lambda d=d: len(d)),
                "store listing": _paired(
                    runs, floor, lambda d=d: sum(1 for _ in d.store.iter_paths())
                ),
            }
    return results


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    print(json.dumps(child(*sys.argv[2:6])))

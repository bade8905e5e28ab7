"""The local part of scripts/bench.py: FileDirDict against a raw os floor and baselines."""

from __future__ import annotations

import errno
import gc
import os
import pickle
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from persidict import FileDirDict

LOCAL_OPS = ("set", "get", "in", "keys", "len", "delete")
VALUE_SIZE = 100
GROUP_SIZE = 100


def make_keys(n: int) -> list[tuple[str, str]]:
    """2-level keys, GROUP_SIZE keys per folder, as a realistic store."""
    return [(f"g{i // GROUP_SIZE:03d}", f"k{i:05d}") for i in range(n)]


def make_values(n: int) -> list[bytes]:
    return [os.urandom(VALUE_SIZE) for _ in range(n)]


# --- contenders: each gets a fresh empty folder per round and runs every op ---
# Per-key ops (set, get, delete) take a slice of the keys, so that contenders
# can take turns chunk by chunk; whole-store ops (keys, len) take no argument.

PER_KEY_OPS = ("set", "get", "in", "delete")
CHUNKS = 10  # per-key ops run in this many turns per round
REPEATS = 5  # whole-store ops (short, so noisier) run this many times per round


class Contender:
    """One local store under test."""

    name = ""

    def __init__(self, root: str, keys: list, values: list) -> None:
        self.root, self.keys, self.values = root, keys, values

    def op(self, name: str) -> Callable[..., Any]:
        return {
            "set": self.set_some,
            "get": self.get_some,
            "in": self.contains_some,
            "keys": self.list_keys,
            "len": self.length,
            "delete": self.delete_some,
        }[name]


class PersidictLocal(Contender):
    name = "FileDirDict"

    def __init__(self, root, keys, values):
        super().__init__(root, keys, values)
        self.d = FileDirDict(base_dir=root)

    def set_some(self, part: slice):
        d = self.d
        for k, v in zip(self.keys[part], self.values[part], strict=True):
            d[k] = v

    def get_some(self, part: slice):
        d = self.d
        for k in self.keys[part]:
            d[k]

    def contains_some(self, part: slice):
        d = self.d
        if not all(k in d for k in self.keys[part]):
            raise AssertionError("a key is missing")

    def list_keys(self):
        return sum(1 for _ in self.d)

    def length(self):
        return len(self.d)

    def delete_some(self, part: slice):
        d = self.d
        for k in self.keys[part]:
            del d[k]


def _scandir_count(top: str) -> int:
    """The iteration floor: a bare recursive scandir walk counting files."""
    count = 0
    stack = [top]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    count += 1
    return count


class RawFloor(Contender):
    name = "raw os floor"

    def __init__(self, root, keys, values):
        super().__init__(root, keys, values)
        # The same files and bytes FileDirDict writes; pickling is done up front.
        self.paths = [os.path.join(root, *k[:-1], k[-1] + ".pkl") for k in keys]
        self.blobs = [pickle.dumps(v, protocol=5) for v in values]

    def set_some(self, part: slice):
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        for p, b in zip(self.paths[part], self.blobs[part], strict=True):
            try:
                fd = os.open(p, flags, 0o644)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(p), exist_ok=True)
                fd = os.open(p, flags, 0o644)
            os.write(fd, b)
            os.close(fd)

    def get_some(self, part: slice):
        for p in self.paths[part]:
            fd = os.open(p, os.O_RDONLY)
            os.read(fd, 1 << 16)
            os.close(fd)

    def contains_some(self, part: slice):
        for p in self.paths[part]:
            os.stat(p)

    def list_keys(self):
        return _scandir_count(self.root)

    def length(self):
        return _scandir_count(self.root)

    def delete_some(self, part: slice):
        for p in self.paths[part]:
            os.unlink(p)


class NaiveStore(Contender):
    """What one writes in ten minutes: pickle, temp file, os.replace."""

    name = "naive pickle+replace"

    def _path(self, key):
        return os.path.join(self.root, *key[:-1], key[-1] + ".pkl")

    def set_some(self, part: slice):
        for k, v in zip(self.keys[part], self.values[part], strict=True):
            path = self._path(k)
            folder = os.path.dirname(path)
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp")
            with os.fdopen(fd, "wb") as f:
                pickle.dump(v, f, protocol=5)
            os.replace(tmp, path)

    def get_some(self, part: slice):
        for k in self.keys[part]:
            with open(self._path(k), "rb") as f:
                pickle.load(f)

    def contains_some(self, part: slice):
        if not all(os.path.isfile(self._path(k)) for k in self.keys[part]):
            raise AssertionError("a key is missing")

    def _iter_keys(self):
        for folder, _dirs, files in os.walk(self.root):
            rel = os.path.relpath(folder, self.root)
            prefix = () if rel == "." else tuple(rel.split(os.sep))
            for name in files:
                if name.endswith(".pkl") and not name.startswith(".tmp"):
                    yield (*prefix, name[:-4])

    def list_keys(self):
        return sum(1 for _ in self._iter_keys())

    def length(self):
        return sum(1 for _ in self._iter_keys())

    def delete_some(self, part: slice):
        for k in self.keys[part]:
            os.unlink(self._path(k))


class FsspecMapper(Contender):
    name = "fsspec get_mapper"

    def __init__(self, root, keys, values):
        super().__init__(root, keys, values)
        import fsspec

        os.makedirs(root, exist_ok=True)
        self.m = fsspec.get_mapper(root)
        self.mkeys = [f"{'/'.join(k)}.pkl" for k in keys]

    def set_some(self, part: slice):
        m = self.m
        for k, v in zip(self.mkeys[part], self.values[part], strict=True):
            m[k] = pickle.dumps(v, protocol=5)

    def get_some(self, part: slice):
        m = self.m
        for k in self.mkeys[part]:
            pickle.loads(m[k])

    def contains_some(self, part: slice):
        m = self.m
        if not all(k in m for k in self.mkeys[part]):
            raise AssertionError("a key is missing")

    def list_keys(self):
        return sum(1 for _ in self.m)

    def length(self):
        return len(self.m)

    def delete_some(self, part: slice):
        m = self.m
        for k in self.mkeys[part]:
            del m[k]


LOCAL_CONTENDERS = [PersidictLocal, RawFloor, NaiveStore, FsspecMapper]


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def bench_local(n: int, rounds: int, folder: str | None, log) -> dict[str, dict[str, float]]:
    """ops/s (median over rounds) per contender and op.

    Contenders take turns at a fine grain (a tenth of the keys, or one whole
    listing) in an order that rotates every turn, so a burst of load from
    elsewhere on the machine hits all of them alike.
    """
    keys, values = make_keys(n), make_values(n)
    samples: dict[str, dict[str, list[float]]] = {
        c.name: {op: [] for op in LOCAL_OPS} for c in LOCAL_CONTENDERS
    }
    step = -(-n // CHUNKS)
    parts = [slice(lo, min(lo + step, n)) for lo in range(0, n, step)]
    turn = 0
    base = tempfile.mkdtemp(prefix="persidict-bench-", dir=folder)
    try:
        for r in range(rounds):
            contenders = [
                cls(os.path.join(base, f"r{r}-{cls.__name__}"), keys, values)
                for cls in LOCAL_CONTENDERS
            ]
            gc.collect()
            for op in LOCAL_OPS:
                per_key = op in PER_KEY_OPS
                total = dict.fromkeys(samples, 0.0)
                for args in [(p,) for p in parts] if per_key else [()] * REPEATS:
                    turn += 1
                    shift = turn % len(contenders)
                    for contender in contenders[shift:] + contenders[:shift]:
                        seconds, result = timed(contender.op(op), *args)
                        if per_key:
                            total[contender.name] += seconds
                            continue
                        if result != n:
                            raise AssertionError(f"{contender.name} {op}: {result} keys, not {n}")
                        samples[contender.name][op].append(seconds)
                if per_key:
                    for name, seconds in total.items():
                        samples[name][op].append(seconds)
            for contender in contenders:
                shutil.rmtree(contender.root)
            log(f"  local round {r + 1}/{rounds} done")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return {
        name: {op: n / statistics.median(ts) for op, ts in per_op.items()}
        for name, per_op in samples.items()
    }


def _exists_before(store: Any, path: str) -> bool:
    """``LocalStore.exists`` before issue 23: ``info`` (openat2, fstat, close, an ETag)."""
    try:
        store.info(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        return False
    return True


def bench_contains(n: int, pairs: int, folder: str | None, log) -> dict[str, dict[str, float]]:
    """``k in d`` against one ``os.stat`` of the key's file (ops/s ratio), now and as before.

    Flat and 2-level keys; ``pairs`` interleaved turns of the three over all
    keys, the median of each; ``us``: microseconds per ``os.stat``.
    """
    base = tempfile.mkdtemp(prefix="persidict-bench-in-", dir=folder)
    results: dict[str, dict[str, float]] = {}
    try:
        shapes = {"flat keys": [f"k{i:05d}" for i in range(n)], "2-level keys": make_keys(n)}
        for shape, keys in shapes.items():
            d = FileDirDict(base_dir=os.path.join(base, shape.split()[0]))
            d.setitems({k: b"v" for k in keys})
            paths = [d._path(k) for k in keys]
            fulls = [os.path.join(d.store.root, p) for p in paths]
            store = d.store

            def now(d=d, keys=keys) -> None:
                for k in keys:
                    k in d  # noqa: B015

            def before(store=store, d=d, keys=keys) -> None:
                for k in keys:
                    _exists_before(store, d._path(k))

            def floor(fulls=fulls) -> None:
                for p in fulls:
                    os.stat(p)

            ways = {"os.stat": floor, "k in d": now, "k in d, before": before}
            times: dict[str, list[float]] = {w: [] for w in ways}
            for turn in range(pairs):
                order = list(ways)[turn % 3 :] + list(ways)[: turn % 3]
                for way in order:
                    times[way].append(timed(ways[way])[0])
            floor_time = statistics.median(times["os.stat"])
            results[shape] = {w: floor_time / statistics.median(ts) for w, ts in times.items()}
            results[shape]["us"] = 1e6 * floor_time / n
            log(f"  in: {shape} done")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return results

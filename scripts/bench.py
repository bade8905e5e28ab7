"""Benchmark: persidict against baselines measured in the same run.

Local part: N values of 100 bytes under 2-level keys ("g007", "k00123"),
timed for set, get, iterating keys, len and delete, for
  FileDirDict      persidict's local dict (pkl, the default format)
  raw floor        os.open/os.write/os.close of the same files (read: os.read;
                   delete: os.unlink; keys/len: a bare recursive os.scandir walk)
  naive            pickle + temp file + os.replace, open + pickle.load
  fsspec mapper    fsspec.get_mapper on a local folder, values pickled
S3 part: S3Dict against a moto server started here in its own process,
one request at a time versus setitems/getitems/delitems; then the same with
a simulated network round trip (--rtt ms, a sleep in the server before each
response), since against a local moto server the server's own CPU time per
request, printed too, caps what concurrency can gain.

Contenders take turns (a tenth of the keys, or one listing, at a time, in an
order that rotates) so machine noise hits all alike; each figure is the
median over rounds. Ratios are to the raw floor (local) or to one-by-one
requests (S3). Nothing here runs in the tests.

    .venv/bin/python scripts/bench.py [--n N] [--rounds R] [--quick] [--markdown]
    .venv/bin/python scripts/bench.py --dir /dev/shm --no-s3   # CPU-bound local run
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from persidict import FileDirDict, S3Dict

LOCAL_OPS = ("set", "get", "keys", "len", "delete")
S3_OPS = ("set", "get", "delete")
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

PER_KEY_OPS = ("set", "get", "delete")
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


# --- S3 on a moto server in its own process ---

_MOTO_CHILD = """
import logging
import sys
import time

from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import ThreadedMotoServer

logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
rtt = float(sys.argv[2]) / 1000
if rtt:
    # A network round trip, simulated: each request waits in its own server
    # thread, so concurrent requests overlap as they would over a network.
    serve = DomainDispatcherApplication.__call__

    def delayed(self, environ, start_response):
        time.sleep(rtt)
        return serve(self, environ, start_response)

    DomainDispatcherApplication.__call__ = delayed
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print("ready", flush=True)
sys.stdin.read()  # run until the parent closes our stdin
server.stop()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(rtt_ms: float = 0) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _MOTO_CHILD, str(port), str(rtt_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError("the moto server did not start")
    return proc, f"http://127.0.0.1:{port}"


def stop_moto(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_s3(n: int, rounds: int, rtt_ms: float, log) -> dict[str, dict[str, float]]:
    """ops/s (median over rounds) for one-by-one and batched S3 requests.

    Also the moto server's CPU time per operation, since that caps how much
    concurrency can gain against a local server.
    """
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "testing")
    proc, endpoint = start_moto(rtt_ms)
    try:
        d = S3Dict(
            "persidict-bench",
            "store",
            endpoint_url=endpoint,
            region="us-east-1",
            create_bucket=True,
            key="testing",
            secret="testing",
        )
        keys, values = make_keys(n), make_values(n)
        items = dict(zip(keys, values, strict=True))

        def one_set():
            for k, v in items.items():
                d[k] = v

        def one_get():
            for k in keys:
                d[k]

        def one_delete():
            for k in keys:
                del d[k]

        ways = {
            "one by one": {"set": one_set, "get": one_get, "delete": one_delete},
            "batched": {
                "set": lambda: d.setitems(items),
                "get": lambda: d.getitems(keys),
                "delete": lambda: d.delitems(keys),
            },
        }
        d.setitems(dict(list(items.items())[:20]))  # warm up the client and pool
        d.delitems(keys[:20])
        times = {way: {op: [] for op in S3_OPS} for way in ways}
        server_cpu = {way: {op: [] for op in S3_OPS} for way in ways}
        for r in range(rounds):
            order = list(ways) if r % 2 == 0 else list(reversed(ways))
            for way in order:
                for op, fn in ways[way].items():
                    before = cpu_seconds(proc.pid)
                    times[way][op].append(timed(fn)[0])
                    server_cpu[way][op].append(cpu_seconds(proc.pid) - before)
            log(f"  S3 (rtt {rtt_ms:g} ms) round {r + 1}/{rounds} done")
    finally:
        stop_moto(proc)
    results = {}
    for way, per_op in times.items():
        results[way] = {op: n / statistics.median(ts) for op, ts in per_op.items()}
        results[way]["server_ms"] = 1000 * statistics.median(
            sum(server_cpu[way][op][r] for op in S3_OPS) / (n * len(S3_OPS)) for r in range(rounds)
        )
    return results


# --- report ---


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {load}"
    )


def table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.rjust(w) if i else c.ljust(w) for i, (c, w) in pairs]
        return "  ".join(cells)

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def local_table(results, n: int, markdown: bool) -> str:
    floor = results[RawFloor.name]
    header = [f"local, N={n}"] + [f"{op} ops/s (x floor)" for op in LOCAL_OPS]
    rows = []
    for cls in LOCAL_CONTENDERS:
        r = results[cls.name]
        rows.append([cls.name] + [f"{r[op]:,.0f} ({r[op] / floor[op]:.2f}x)" for op in LOCAL_OPS])
    return table(header, rows, markdown)


def s3_table(results, n: int, rtt_ms: float, markdown: bool) -> str:
    one = results["one by one"]
    where = f"moto + {rtt_ms:g} ms RTT" if rtt_ms else "moto"
    header = [f"S3 ({where}), N={n}"] + [f"{op} ops/s (x one by one)" for op in S3_OPS]
    header.append("server CPU ms/op")
    rows = [
        [way]
        + [f"{r[op]:,.0f} ({r[op] / one[op]:.2f}x)" for op in S3_OPS]
        + [f"{r['server_ms']:.1f}"]
        for way, r in results.items()
    ]
    return table(header, rows, markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="local values (default 10000)")
    parser.add_argument("--s3-n", type=int, default=500, help="S3 values (default 500)")
    parser.add_argument("--rounds", type=int, default=3, help="local rounds (default 3)")
    parser.add_argument("--s3-rounds", type=int, default=2, help="S3 rounds (default 2)")
    parser.add_argument(
        "--rtt",
        type=float,
        default=20,
        help="also run S3 with this simulated round trip in ms (default 20; 0: skip)",
    )
    parser.add_argument(
        "--rtt-n", type=int, default=100, help="values for the RTT run (default 100)"
    )
    parser.add_argument("--quick", action="store_true", help="N=2000, S3 N=100, fewer rounds")
    parser.add_argument("--dir", help="folder for the local stores (default: the temp folder)")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 part")
    args = parser.parse_args()
    if args.quick:
        args.n, args.s3_n, args.rtt_n, args.rounds, args.s3_rounds = 2000, 100, 50, 3, 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log(f"local: N={args.n}, {args.rounds} rounds")
    local = bench_local(args.n, args.rounds, args.dir, log)
    s3_runs = []
    if not args.no_s3:
        log(f"S3 on moto: N={args.s3_n}, {args.s3_rounds} rounds")
        s3_runs.append((args.s3_n, 0, bench_s3(args.s3_n, args.s3_rounds, 0, log)))
        if args.rtt:
            rtt_run = bench_s3(args.rtt_n, args.s3_rounds, args.rtt, log)
            s3_runs.append((args.rtt_n, args.rtt, rtt_run))

    where = args.dir or tempfile.gettempdir()
    print(f"Machine: {machine()}; local stores in {where}.")
    print("Medians over rounds; ratios measured in this run.\n")
    print(local_table(local, args.n, args.markdown))
    for n, rtt_ms, results in s3_runs:
        print()
        print(s3_table(results, n, rtt_ms, args.markdown))


if __name__ == "__main__":
    main()

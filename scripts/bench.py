"""Benchmark: persidict against baselines measured in the same run.

Local part: N values of 100 bytes under 2-level keys ("g007", "k00123"),
timed for set, get, `in`, iterating keys, len and delete, for
  FileDirDict      persidict's local dict (pkl, the default format)
  raw floor        os.open/os.write/os.close of the same files (read: os.read;
                   in: os.stat; delete: os.unlink; keys/len: a bare recursive
                   os.scandir walk)
  naive            pickle + temp file + os.replace, open + pickle.load
  fsspec mapper    fsspec.get_mapper on a local folder, values pickled
and `k in d` against one os.stat of the key's file, flat and 2-level keys,
now and as before issue 23 (bench_contains).
Decoders: reading untrusted json and checking a pickle's class, against
unrestricted jsonpickle and pickle (bench_decoders.py).
S3 part: S3Dict against a moto server started here in its own process, one
request at a time and setitems/getitems/delitems, against boto3 with 32
threads and s3fs's FSMap (see bench_s3.py); then the same with
a simulated network round trip (--rtt ms, a sleep in the server before each
response), since against a local moto server the server's own CPU time per
request, printed too, caps what concurrency can gain.

Contenders take turns (a tenth of the keys, or one listing, at a time, in an
order that rotates) so machine noise hits all alike; each figure is the
median over rounds. Ratios are to the raw floor (local) or to boto3 with
32 threads (S3). Nothing here runs in the tests.

    .venv/bin/python scripts/bench.py [--n N] [--rounds R] [--quick] [--markdown]
    .venv/bin/python scripts/bench.py --dir /dev/shm --no-s3   # CPU-bound local run
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile

from bench_big import bench_batches, bench_big, bench_iteration, big_rows
from bench_decoders import bench_decoders, decoder_rows
from bench_local import LOCAL_CONTENDERS, LOCAL_OPS, RawFloor, bench_contains, bench_local
from bench_s3 import BOTO3_THREADS, S3_OPS, bench_s3

BOTO3_WAY = f"boto3, {BOTO3_THREADS} threads"

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
    base = results[BOTO3_WAY]
    where = f"moto + {rtt_ms:g} ms RTT" if rtt_ms else "moto"
    header = [f"S3 ({where}), N={n}"] + [f"{op} ops/s (x boto3 threads)" for op in S3_OPS]
    header.append("server CPU ms/op")
    rows = [
        [way]
        + [f"{r[op]:,.0f} ({r[op] / base[op]:.2f}x)" for op in S3_OPS]
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
    parser.add_argument("--no-local", action="store_true", help="skip the local part")
    parser.add_argument(
        "--no-decoders",
        action="store_true",
        help="skip the table of decoding untrusted bytes (see bench_decoders.py)",
    )
    parser.add_argument(
        "--no-big",
        action="store_true",
        help="skip the large-value, batch-vs-loop and iteration tables (see bench_big.py)",
    )
    args = parser.parse_args()
    if args.quick:
        args.n, args.s3_n, args.rtt_n, args.rounds, args.s3_rounds = 2000, 100, 50, 3, 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    local = None
    if not args.no_local:
        log(f"local: N={args.n}, {args.rounds} rounds")
        local = bench_local(args.n, args.rounds, args.dir, log)
        contains = bench_contains(args.n, 5 * args.rounds, args.dir, log)
    extra = None
    if not (args.no_big or args.no_local):
        batches = bench_batches(args.n // 5, args.rounds, args.dir, log)
        iteration = bench_iteration(5 * args.rounds + 1, args.dir, log)
        extra = (batches, iteration, bench_big(args.dir, log))
    decoders = None if args.no_decoders else bench_decoders(args.rounds * 2 + 1)
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
    if local is not None:
        print(local_table(local, args.n, args.markdown))
        print()
        header = [f"`k in d`, N={args.n}", "os.stat us", "k in d (x os.stat)", "before (x os.stat)"]
        rows = [
            [shape, f"{r['us']:.2f}", f"{r['k in d']:.2f}x", f"{r['k in d, before']:.2f}x"]
            for shape, r in contains.items()
        ]
        print(table(header, rows, args.markdown))
    if extra is not None:
        batches, iteration, big = extra
        print()
        header = [f"local batch vs loop, N={args.n // 5}", "loop time / batch time"]
        rows = [
            [f"{op}items" if op != "delete" else "delitems", f"{r:.2f}x"]
            for op, r in batches.items()
        ]
        print(table(header, rows, args.markdown))
        print()
        header = ["iteration (x bare os.scandir count)", "keys", "len", "store listing"]
        rows = [[shape, *(f"{r[k]:.2f}x" for k in header[1:])] for shape, r in iteration.items()]
        print(table(header, rows, args.markdown))
        print()
        print(table(*big_rows(big), args.markdown))
    if decoders is not None:
        print()
        print(table(*decoder_rows(decoders), args.markdown))
    for n, rtt_ms, results in s3_runs:
        print()
        print(s3_table(results, n, rtt_ms, args.markdown))


if __name__ == "__main__":
    main()

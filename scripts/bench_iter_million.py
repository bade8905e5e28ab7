"""Memory stays flat while iterating a million local keys (streamed, never materialized).

Makes N empty ``.pkl`` files under 2-level keys (1,000 per folder), then, in a
fresh process for each size, iterates the FileDirDict's keys and reports the
peak RSS above the RSS before iterating, for N/10 and for N keys. Flat memory
means both peaks are about the same (a chunk of names and the key cache),
not ten times apart.

    .venv/bin/python scripts/bench_iter_million.py [--n 1000000] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, sys, time
from persidict import FileDirDict

def kb(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))

d = FileDirDict(sys.argv[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak
base = kb("VmRSS")
start = time.perf_counter()
keys = iter(d)
next(keys)
first = time.perf_counter() - start
count = 1 + sum(1 for _ in keys)
total = time.perf_counter() - start
print(json.dumps({"keys": count, "first_key_s": first, "total_s": total,
                  "peak_mb": (kb("VmHWM") - base) / 1024}))
"""


def make_files(root: str, n: int, per_folder: int = 1000) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for start in range(0, n, per_folder):
        folder = os.path.join(root, f"g{start // per_folder:05d}")
        os.mkdir(folder)
        for i in range(start, min(n, start + per_folder)):
            os.close(os.open(f"{folder}/k{i:07d}.pkl", flags, 0o644))


def iterate(root: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, root], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dir", default="/dev/shm", help="where to make the files")
    args = parser.parse_args()
    top = tempfile.mkdtemp(dir=args.dir)
    try:
        for n in (args.n // 10, args.n):
            root = os.path.join(top, str(n))
            os.mkdir(root)
            start = time.perf_counter()
            make_files(root, n)
            print(f"made {n:,} files in {time.perf_counter() - start:.0f} s", file=sys.stderr)
            r = iterate(root)
            assert r["keys"] == n, r
            print(
                f"{n:>9,} keys: first key after {r['first_key_s'] * 1e3:.1f} ms, "
                f"all in {r['total_s']:.1f} s, peak RSS +{r['peak_mb']:.1f} MB"
            )
            shutil.rmtree(root)
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()

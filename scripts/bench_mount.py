"""Shell tools through a FUSE mount of a local store vs. directly on its folder, in one run.

    .venv/bin/python scripts/bench_mount.py [--small 2000] [--big-mb 100]

Prints seconds for each and the speed ratio (direct time / mount time; 1.0 is
as fast as the disk). Targets: large read >= 0.5x, small-file cat >= 0.2x.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from persidict import open_dict
from persidict_fs import mount


def timed(script: str, cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", script], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if done.returncode:
        raise SystemExit(f"{script!r} in {cwd} failed: {done.stderr.decode()[:500]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=2000, help="number of small files")
    parser.add_argument("--big-mb", type=int, default=100, help="size of the large value")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="persidict-bench-"))
    store, mnt, src = work / "store", work / "mnt", work / "src"
    mnt.mkdir()
    d = open_dict(str(store), "bytes")
    d["big"] = os.urandom(args.big_mb << 20)
    d.setitems({("small", f"f{i:05d}"): os.urandom(1000) for i in range(args.small)})
    src.mkdir()
    for i in range(args.small):
        (src / f"g{i:05d}").write_bytes(os.urandom(1000))

    cases = {
        f"read a {args.big_mb} MB value (cat)": "cat big > /dev/null",
        f"cat {args.small} small files": "cat small/* > /dev/null",
        "ls -lR": "ls -lR > /dev/null",
        f"cp -r {args.small} files in": f"rm -rf copy; cp -r {src} copy",
    }
    rows = []
    with mount(str(store), mnt, cache_ttl=1.0, serialization_format="bytes"):
        for name, script in cases.items():
            timed(script, store)  # the same warm page cache for both sides
            direct = timed(script, store)
            first = timed(script, mnt)
            again = timed(script, mnt)
            rows.append((name, direct, first, again))
            time.sleep(1.1)  # let the mount's caches expire between cases
    print(f"{'case':32} {'direct s':>9} {'mount s':>9} {'ratio':>6} {'2nd run':>8} {'ratio':>6}")
    for name, direct, first, again in rows:
        print(
            f"{name:32} {direct:9.3f} {first:9.3f} {direct / first:6.2f}"
            f" {again:8.3f} {direct / again:6.2f}"
        )
    print("ratio = direct time / mount time (1.0 = as fast as the folder itself)")
    subprocess.run(["rm", "-rf", str(work)], check=True)


if __name__ == "__main__":
    main()

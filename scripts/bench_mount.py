"""Shell tools through a FUSE mount of a local store vs. directly on its folder, in one run.

    .venv/bin/python scripts/bench_mount.py [--small 2000] [--big-mb 100]

Each case runs cold (the backing files dropped from the page cache with
posix_fadvise, the mount never having read them) and then warm (run again).
Prints seconds and the speed ratio: direct time / mount time, 1.0 being as
fast as the folder itself. Targets: large read >= 0.5x, small-file cat >= 0.2x.
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


def evict(folder: Path) -> None:
    """Drop the files under ``folder`` from the page cache (theirs only, not the machine's)."""
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


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
    os.sync()  # dirty pages cannot be dropped

    cases = {
        f"read a {args.big_mb} MB value (cat)": "cat big > /dev/null",
        f"cat {args.small} small files": "cat small/* > /dev/null",
        "ls -lR": "ls -lR > /dev/null",
        f"cp -r {args.small} files in": f"rm -rf copy; cp -r {src} copy",
    }
    rows = []
    with mount(str(store), mnt, cache_ttl=1.0, serialization_format="bytes"):
        for name, script in cases.items():
            evict(store)
            cold_direct = timed(script, store)
            evict(store)
            cold_mount = timed(script, mnt)
            warm_direct = timed(script, store)
            warm_mount = timed(script, mnt)
            rows.append((name, cold_direct, cold_mount, warm_direct, warm_mount))
            time.sleep(1.1)  # let the mount's caches expire between cases
    print(f"{'case':30} {'cold: direct':>12} {'mount':>7} {'ratio':>6}"
          f" {'warm: direct':>13} {'mount':>7} {'ratio':>6}")  # fmt: skip
    for name, cd, cm, wd, wm in rows:
        print(f"{name:30} {cd:12.3f} {cm:7.3f} {cd / cm:6.2f} {wd:13.3f} {wm:7.3f} {wd / wm:6.2f}")
    print("seconds; ratio = direct time / mount time (1.0 = as fast as the folder itself)")
    subprocess.run(["rm", "-rf", str(work)], check=True)


if __name__ == "__main__":
    main()

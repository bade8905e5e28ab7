"""Shell tools through a FUSE mount of a local store vs. directly on its folder, in one run.

    .venv/bin/python scripts/bench_mount.py [--small 2000] [--big-mb 100] [--write-mb 1024]
                                            [--write-on local,s3] [--write-only]

Each case runs cold (the backing files dropped from the page cache with
posix_fadvise, the mount never having read them) and then warm (run again).
Prints seconds and the speed ratio: direct time / mount time, 1.0 being as
fast as the folder itself. Targets: large read >= 0.5x, small-file cat >= 0.2x.

Then a ``--write-mb`` ``dd`` through a local and an S3 (moto) mount, each in
a fresh server: its time against ``dd`` into a folder, and the server's peak
RSS (target: under 300 MB whatever the size: writes spill to a temp file),
then the same after a ``cat`` of it back (reads go by blocks).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from persidict import open_dict
from persidict.testing import moto_server
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


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of process ``pid`` so far (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def big_write(work: Path, size_mb: int, on: list[str]) -> None:
    """``dd`` of ``size_mb`` MB through local and S3 mounts: time ratio and server peak RSS."""
    dd = f"dd if=/dev/zero of=big bs=1M count={size_mb} status=none"
    folder = work / "plain"
    folder.mkdir()
    direct = timed(dd, folder)
    os.unlink(folder / "big")
    print(f"\n{size_mb} MB dd: into a folder {direct:.2f} s")
    print(f"{'mount':8} {'seconds':>8} {'ratio':>6} {'server peak RSS MB':>19}"
          f" {'then cat, s':>14} {'peak RSS after':>17}")  # fmt: skip
    with moto_server() as endpoint:
        # one PUT of the whole value until the S3 store streams (multipart): give it time
        s3 = dict(endpoint_url=endpoint, key="k", secret="s", create_bucket=True)
        s3["request_timeout"] = 600
        for name, url, options in (
            ("local", str(work / "wstore"), {}),
            ("s3", "s3://bench-mount/store", s3),
        ):
            if name not in on:
                continue
            open_dict(url, "bytes", **options)["seed"] = b""
            mnt = work / f"wmnt-{name}"
            mnt.mkdir()
            with mount(url, mnt, serialization_format="bytes", **options) as m:
                try:
                    seconds = timed(dd, mnt)
                except SystemExit as failed:
                    print(f"{name:8} failed: {failed}")
                    continue
                rss = peak_rss_mb(m.process.pid)
                reading = timed("cat big > /dev/null", mnt)
                rss_read = peak_rss_mb(m.process.pid)
            got = open_dict(url, "bytes", **options).store.info("big").size
            assert got == size_mb << 20, f"{name}: stored {got} bytes"
            print(f"{name:8} {seconds:8.2f} {direct / seconds:6.2f} {rss:19.0f}"
                  f" {reading:14.2f} {rss_read:17.0f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=2000, help="number of small files")
    parser.add_argument("--big-mb", type=int, default=100, help="size of the large value")
    parser.add_argument("--write-mb", type=int, default=1024, help="size of the big dd (0: none)")
    parser.add_argument("--write-on", default="local,s3", help="mounts the big dd goes through")
    parser.add_argument("--write-only", action="store_true", help="only the big dd")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="persidict-bench-"))
    if args.write_only:
        big_write(work, args.write_mb, args.write_on.split(","))
        subprocess.run(["rm", "-rf", str(work)], check=True)
        return
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
    if args.write_mb:
        big_write(work, args.write_mb, args.write_on.split(","))
    subprocess.run(["rm", "-rf", str(work)], check=True)


if __name__ == "__main__":
    main()

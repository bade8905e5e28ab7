"""The README example on a local folder, then the same on S3 (an embedded moto server),
then that store copied to JSON with the persidict command and mounted: ls and cat read it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from persidict import FileDirDict, PersiDict, S3Dict
from persidict.testing import moto_server


def fill_and_show(d: PersiDict) -> None:
    d["Eliza"] = "MIT Eliza was a mock Rogerian psychotherapist."
    d["Eliza", "year"] = 1965
    d["Eliza", "authors"] = ["Joseph Weizenbaum", "George Bernard Shaw"]
    d["Shoebox"] = "IBM Shoebox performed arithmetic on voice command."
    d["Shoebox", "year"] = 1961
    d["Shoebox", "authors"] = ["W.C. Dersch", "E.A. Quade"]
    for k in d.keys():  # noqa: SIM118  (the README example, unchanged)
        print(list(k), "==", d[k])
    assert "Eliza" in d


def shell(command: str, cwd: str) -> None:
    print(f"$ {command}", flush=True)
    subprocess.run(["bash", "-c", command], cwd=cwd, check=True)


def mount_and_browse(folder: str, options: dict[str, str]) -> None:
    """Copy the S3 store to a JSON one with the CLI, mount it, read it with ls and cat."""
    from persidict_fs import mount

    cli = os.path.join(os.path.dirname(sys.executable), "persidict")
    s3 = ["--endpoint-url", options["endpoint_url"], "-o", "key=demo", "-o", "secret=demo"]
    src, dst = "s3://demo-bucket/my_folder", "s3://demo-bucket/as_json"
    # --trust: converting pkl values unpickles them, and this store is our own.
    print(f"== persidict cp {src} {dst} --format json --trust, then a FUSE mount of it")
    subprocess.run([cli, "cp", src, dst, "--format", "json", "--trust", *s3], check=True)
    mountpoint = os.path.join(folder, "mnt")
    os.mkdir(mountpoint)
    with mount(dst, mountpoint, **options):
        shell("ls -lR", mountpoint)
        shell("cat Eliza/year.json && echo && cat Shoebox/authors.json && echo", mountpoint)
    print("unmounted:", not os.path.ismount(mountpoint))


def main() -> None:
    folder = tempfile.mkdtemp(prefix="persidict-demo-")
    print(f"== FileDirDict in {folder}/my_folder")
    fill_and_show(FileDirDict(dir_name=f"{folder}/my_folder"))
    print("keys in a fresh object:", len(FileDirDict(dir_name=f"{folder}/my_folder")))

    with moto_server() as endpoint:
        options = {"endpoint_url": endpoint, "key": "demo", "secret": "demo"}
        print(f"== S3Dict on a moto server at {endpoint}")
        fill_and_show(S3Dict("demo-bucket", "my_folder", create_bucket=True, **options))
        print("keys in a fresh object:", len(S3Dict("demo-bucket", "my_folder", **options)))
        mount_and_browse(folder, options)


if __name__ == "__main__":
    main()

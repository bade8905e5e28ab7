"""Shared pieces of the FUSE tests: a mounted store, and shell commands run in it."""

from __future__ import annotations

import os
import subprocess
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from persidict import PersiDict
from tests.waiting import wait_for


@dataclass
class Mounted:
    """A store, the dict on it, and where it is mounted (with the server's log)."""

    d: PersiDict
    root: Path
    log: Path
    ttl: float

    def sh(self, script: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``script`` with bash inside the mount."""
        done = subprocess.run(
            ["bash", "-c", script], cwd=self.root, capture_output=True, text=True, timeout=60
        )
        if check and done.returncode:
            raise AssertionError(f"{script!r} failed ({done.returncode}): {done.stderr}")
        return done

    def log_text(self) -> str:
        return self.log.read_text()


def fd_position(pid: int, fd: int, path: Path) -> int | None:
    """Where process ``pid``'s descriptor ``fd`` stands in ``path`` (None if not open there)."""
    try:
        if os.readlink(f"/proc/{pid}/fd/{fd}") != str(path):
            return None
        with open(f"/proc/{pid}/fdinfo/{fd}") as f:
            return int(f.readline().split()[1])  # "pos:\t<offset>"
    except FileNotFoundError:
        return None


def wait_written(pid: int, fd: int, path: Path, nbytes: int) -> None:
    """Wait until process ``pid`` has written ``nbytes`` to ``path`` through ``fd``.

    Its position advances when each write returns: the bytes are at the mount.
    """
    wait_for(
        lambda: (fd_position(pid, fd, path) or 0) >= nbytes,
        what=f"pid {pid} to write {nbytes} bytes to {path}",
    )


def mount_fixture(request, tmp_path_factory, **mount_options):
    """A json store on ``request.param`` (local, s3, gcs, azure) mounted for a module's tests."""
    from persidict import open_dict
    from persidict_fs import mount

    tmp = tmp_path_factory.mktemp("fuse")
    if request.param == "local":
        url, options = str(tmp / "store"), {}
    elif request.param in ("gcs", "azure"):
        options = dict(request.getfixturevalue(f"{request.param}_options"))
        scheme = "gs" if request.param == "gcs" else "az"
        url = f"{scheme}://persidict-tests/mount-{uuid.uuid4().hex[:8]}"
    else:
        options = dict(request.getfixturevalue("s3_options"))
        url = f"s3://persidict-tests/mount-{uuid.uuid4().hex[:8]}"
    d = open_dict(url, "json", **options)
    d["seed"] = 0  # the format is guessed from the files, as the CLI does
    root = tmp / "mnt"
    root.mkdir()
    log = tmp / "mount.log"
    ttl = mount_options.pop("cache_ttl", 0.5)
    level = mount_options.pop("log_level", "DEBUG")
    handle = mount(url, root, cache_ttl=ttl, log_file=log, log_level=level,
                   **mount_options, **options)  # fmt: skip
    return handle, Mounted(d, root, log, ttl)


@contextmanager
def raw_mount(request, tmp_path_factory, name: str):
    """A raw (bytes) store on ``request.param`` ("local" or "s3") mounted: (mount point, log)."""
    from persidict import open_dict
    from persidict_fs import mount

    tmp = tmp_path_factory.mktemp(name)
    if request.param == "local":
        url, options = str(tmp / "store"), {}
    else:
        options = dict(request.getfixturevalue("s3_options"))
        url = f"s3://persidict-tests/{name}-{uuid.uuid4().hex[:8]}"
    open_dict(url, "bytes", **options)
    mnt, log = tmp / "mnt", tmp / "mount.log"
    mnt.mkdir()
    with mount(url, mnt, serialization_format="bytes", log_file=log, **options):
        yield mnt, log

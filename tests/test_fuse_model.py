"""The mount is a disk: random operation sequences, run in a plain folder and through the mount.

One process opens, writes at offsets, truncates, stats, seeks to the end,
reads (with ``pread`` and ``mmap``), closes, reopens, renames and removes a
few files, at most one descriptor per file (where the mount commits whole at
close by design, several at once differ from a disk: see test_fuse_tools).
After every step the result (value or errno) in the mount must be the
folder's, and after every step that can commit, both trees must hold the
same names and bytes. A second test has one process rewrite files whole
while another reads them: every read must be one whole committed version.

Seeded and bounded here; ``scripts/soak`` runs more seeds and steps
(``PERSIDICT_MODEL_STEPS``, ``PERSIDICT_MODEL_SEEDS``).
"""

from __future__ import annotations

import errno
import mmap
import os
import random
import subprocess
import sys
import uuid

import pytest

from tests.fuse_helpers import raw_mount
from tests.waiting import wait_for

STEPS = {"local": 3000, "s3": 1500}
SEEDS = [int(s) for s in os.environ.get("PERSIDICT_MODEL_SEEDS", "1,2").split(",")]
NAMES = ["a", "b", "c", "sub/d"]
MAX_WRITE = 70_000  # past the kernel's 64 KiB pages and the mount's spool blocks
OPEN_FLAGS = {
    "r": os.O_RDONLY,
    "r+": os.O_RDWR,
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "w+": os.O_RDWR | os.O_CREAT | os.O_TRUNC,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "c": os.O_RDWR | os.O_CREAT,
}


def steps_for(backend: str) -> int:
    return int(os.environ.get("PERSIDICT_MODEL_STEPS", STEPS[backend]))


@pytest.fixture(scope="module", params=["local", "s3"])
def mounted(request, tmp_path_factory):
    """A raw (bytes) store mounted for the module: (backend, mount point, log)."""
    with raw_mount(request, tmp_path_factory, "model") as (point, log):
        yield request.param, point, log


def outcome(call, *args):
    """What a system call gave: its value, or the errno's name."""
    try:
        return call(*args)
    except OSError as exc:
        return errno.errorcode.get(exc.errno, exc.errno)


def tree(root: str) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes)."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read()
    return found


def mmap_read(path: str):
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if not size:
            return b""
        with mmap.mmap(fd, size, prot=mmap.PROT_READ) as m:
            return m[:]
    finally:
        os.close(fd)


def read_whole(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class Side:
    """One place the sequence runs: a folder, or a folder in the mount."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.fds: dict[str, int] = {}  # name -> open descriptor
        self.append: dict[str, bool] = {}  # name -> its descriptor was opened O_APPEND
        self.untouched: set[str] = set()  # names opened with O_TRUNC and not written since

    def path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def run(self, op: tuple):
        kind, name, *args = op
        fd = self.fds.get(name)
        path = self.path(name)
        if kind == "open":
            got = outcome(os.open, path, OPEN_FLAGS[args[0]], 0o644)
            if isinstance(got, int):
                self.fds[name] = got
                self.append[name] = args[0] == "a"
                if args[0] in ("w", "w+"):
                    self.untouched.add(name)
                return "fd"
            return got
        if kind in ("pwrite", "ftruncate"):
            self.untouched.discard(name)
        if kind == "pwrite":
            offset, data, append = args
            if append:
                return outcome(os.write, fd, data)
            return outcome(os.pwrite, fd, data, offset)
        if kind == "pread":
            return outcome(os.pread, fd, *args)
        if kind == "ftruncate":
            return outcome(os.ftruncate, fd, *args)
        if kind == "fstat":
            return outcome(lambda: os.fstat(fd).st_size)
        if kind == "seek_end":
            return outcome(os.lseek, fd, 0, os.SEEK_END)
        if kind == "close":
            del self.fds[name]
            self.untouched.discard(name)
            return outcome(os.close, fd)
        if kind == "stat":
            return outcome(lambda: os.stat(path).st_size)
        if kind == "read":
            return outcome(read_whole, path)
        if kind == "mmap":
            return outcome(mmap_read, path)
        if kind == "truncate":
            return outcome(os.truncate, path, *args)
        if kind == "unlink":
            return outcome(os.unlink, path)
        if kind == "rename":
            got = outcome(os.rename, path, self.path(args[0]))
            if got is None and fd is not None:
                self.fds[args[0]] = self.fds.pop(name)
                self.append[args[0]] = self.append[name]
                if name in self.untouched:
                    self.untouched.add(args[0])
            self.untouched.discard(name)
            return got
        raise AssertionError(kind)

    def close_all(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def next_op(rng: random.Random, side: Side, sizes: dict[str, int]) -> tuple:
    """A random operation that the model allows (at most one descriptor per file)."""
    name = rng.choice(NAMES)
    fd = side.fds.get(name)
    if fd is None:
        kind = rng.choices(
            ["open", "stat", "read", "mmap", "truncate", "unlink", "rename"],
            [8, 2, 2, 1, 1, 1, 2],
        )[0]
        if kind == "open":
            return ("open", name, rng.choice(list(OPEN_FLAGS)))
        if kind == "truncate":
            return ("truncate", name, rng.randrange(0, sizes.get(name, 0) + 5000))
        free = [n for n in NAMES if n not in side.fds and n != name]
        if kind == "rename" and free:
            return ("rename", name, rng.choice(free))
        return ("stat", name) if kind == "rename" else (kind, name)
    size = sizes.get(name, 0)
    kind = rng.choices(
        ["pwrite", "pread", "ftruncate", "fstat", "seek_end", "close", "rename", "unlink"],
        [10, 4, 2, 2, 2, 4, 1, 1],
    )[0]
    if kind == "pwrite":
        length = rng.choice([1, rng.randrange(1, 200), rng.randrange(1, MAX_WRITE)])
        data = rng.randbytes(length)
        return ("pwrite", name, rng.randrange(0, size + 100), data, side.append[name])
    if kind == "pread":
        return ("pread", name, rng.randrange(0, 1 << 17), rng.randrange(0, size + 100))
    if kind == "ftruncate":
        return ("ftruncate", name, rng.randrange(0, size + 5000))
    if kind == "rename":
        free = [n for n in NAMES if n not in side.fds]
        if not free:
            return ("fstat", name)
        return ("rename", name, rng.choice(free))
    return (kind, name)


def run_model(seed: int, steps: int, folder: str, mounted_folder: str) -> int:
    """Run ``steps`` random operations on both; return how many compared equal."""
    rng = random.Random(seed)
    disk, mnt = Side(folder), Side(mounted_folder)
    for side in (disk, mnt):
        os.makedirs(side.path("sub"), exist_ok=True)
    history: list[tuple] = []
    try:
        for step in range(steps):
            sizes = {n: len(b) for n, b in tree(folder).items()}
            sizes.update({n: os.fstat(fd).st_size for n, fd in disk.fds.items()})
            op = next_op(rng, disk, sizes)
            # a truncating open never written to commits at the kernel's release, which
            # may come just after close() returns (README, "Differences from a disk")
            released_late = op[0] == "close" and op[1] in disk.untouched
            history.append(op[:2] + tuple(len(a) if isinstance(a, bytes) else a for a in op[2:]))
            expected, got = disk.run(op), mnt.run(op)
            assert got == expected, (
                f"seed {seed}, step {step}: {op[:2]} gave {short(got)} in the mount, "
                f"{short(expected)} in a folder; the steps so far: {history[-12:]}"
            )
            if released_late:
                wait_for(
                    lambda: closed(tree(mounted_folder), disk) == closed(tree(folder), disk),
                    what=f"the release of {op[1]} to commit its truncation (seed {seed}, {step})",
                )
            if op[0] in ("close", "rename", "unlink", "truncate"):
                # files open for writing commit at close: compare the others
                assert closed(tree(mounted_folder), disk) == closed(tree(folder), disk), (
                    f"seed {seed}, step {step}: the trees differ after {op[:2]}; "
                    f"the steps so far: {history[-12:]}"
                )
    finally:
        disk.close_all()
        mnt.close_all()
    assert tree(mounted_folder) == tree(folder)
    return steps


def closed(files: dict[str, bytes], side: Side) -> dict[str, bytes]:
    return {name: data for name, data in files.items() if name not in side.fds}


def short(value) -> str:
    if isinstance(value, bytes) and len(value) > 40:
        return f"{len(value)} bytes {value[:16]!r}..."
    return repr(value)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_operations_in_the_mount_do_what_they_do_in_a_folder(mounted, tmp_path, seed):
    backend, mnt, log = mounted
    here = f"run{seed}-{uuid.uuid4().hex[:6]}"
    os.mkdir(mnt / here)
    (tmp_path / here).mkdir()
    steps = steps_for(backend)
    assert run_model(seed, steps, str(tmp_path / here), str(mnt / here)) == steps, log


READER = r"""
import os, sys
path, rounds = sys.argv[1], int(sys.argv[2])
seen = []
for _ in range(rounds):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        continue
    except OSError as exc:  # EIO: read past its version while the file was rewritten
        sys.stdout.write(f"{exc.errno} - -\n")
        continue
    seen.append(len(data))
    sys.stdout.write(f"{len(data)} {data[:1].hex() or '-'} {len(set(data))}\n")
sys.stdout.flush()
"""


@pytest.mark.parametrize("seed", SEEDS[:1])
def test_a_reader_beside_a_writer_reads_one_whole_version_every_time(mounted, seed):
    """A writer rewrites a file whole (each version one byte value, its own length) while
    another process reads it again and again: every read is exactly one version, or EIO
    where the writer opened the file while the read was under way (never other bytes)."""
    backend, mnt, _log = mounted
    rng = random.Random(seed)
    path = mnt / f"versions-{seed}-{uuid.uuid4().hex[:6]}"
    versions: dict[int, set[bytes]] = {0: set()}
    path.write_bytes(b"")
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path), "400" if backend == "local" else "120"],
        stdout=subprocess.PIPE,
        text=True,
    )
    n = 0
    while reader.poll() is None and n < 250:
        n += 1
        size = rng.randrange(1, 300_000)
        byte = bytes([n % 256])
        versions.setdefault(size, set()).add(byte)
        with open(path, "wb") as f:
            for start in range(0, size, 50_000):  # several writes, committed at close
                f.write(byte * min(50_000, size - start))
    out, _ = reader.communicate(timeout=120)
    reads = [line.split() for line in out.splitlines()]
    failed = [r for r in reads if r[1] == "-" and r[0] != "0"]
    assert all(int(r[0]) == errno.EIO for r in failed), failed
    reads = [r for r in reads if r not in failed]
    assert len({r[1] for r in reads}) > 2, f"too few versions read to tell: {reads}"
    for size, first, distinct in reads:
        assert int(size) in versions, (
            f"a read of {size} bytes of {first!r} ({distinct} distinct): no version had that size"
        )
        if int(size):
            assert bytes.fromhex(first) in versions[int(size)] and distinct == "1", (
                f"a read of {size} bytes mixed versions"
            )

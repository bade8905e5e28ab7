"""Appends lose nothing: many processes appending to one file at once, through the mount
and through the view's ``open(path, "ab")``, on a local folder and on S3 (moto).

Each append is a compare-and-swap on the ETag of the version it read
(``PersiDictFileSystem.append_file``), tried again when another writer got
there first. The appenders start together (a barrier on their stdin), so
their commits race.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter

import pytest
from fuse_helpers import mount_fixture

from persidict import FormatError
from persidict.testing import count_s3_requests as s3_requests
from persidict_fs import PersiDictFileSystem

PROCESSES = 4
LINES = [50, pytest.param(200, marks=pytest.mark.soak)]  # lines per process
LINE = re.compile(rb"(\d) (\d{4}) x{40}")

THROUGH_THE_MOUNT = r"""
import sys
path, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    with open(path, "ab") as f:  # `>>`: one open, one write, one close per line
        f.write(f"{who} {i:04d} {'x' * 40}\n".encode())
"""

THROUGH_THE_VIEW = r"""
import json, sys
from persidict_fs import PersiDictFileSystem
url, options, path, who, n = sys.argv[1:6]
fs = PersiDictFileSystem(fo=url, target_options=json.loads(options), skip_instance_cache=True)
print("ready", flush=True)
sys.stdin.readline()
for i in range(int(n)):
    with fs.open(path, "ab") as f:
        f.write(f"{who} {i:04d} {'x' * 40}\n".encode())
"""


@pytest.fixture(scope="module", params=["local", "s3"])
def mounted(request, tmp_path_factory):
    # not at DEBUG: hundreds of appends on S3 would log every request
    handle, m = mount_fixture(request, tmp_path_factory, log_level="INFO")
    with handle:
        yield m


def race(commands: list[list[str]], cwd) -> None:
    """Start every command, let them all go at once, and wait for each to succeed."""
    procs = [
        subprocess.Popen(c, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for c in commands
    ]
    for p in procs:
        assert p.stdout.readline() == "ready\n"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.close()
    for p in procs:
        assert p.wait(timeout=600) == 0


def assert_every_line_whole(data: bytes, each: int) -> None:
    """PROCESSES x ``each`` whole lines, each appender's in its own order: none lost, none torn."""
    lines = data.splitlines()
    assert len(lines) == PROCESSES * each
    seen: dict[int, list[int]] = {who: [] for who in range(PROCESSES)}
    for line in lines:
        m = LINE.fullmatch(line)
        assert m, line
        seen[int(m[1])].append(int(m[2]))
    assert seen == {who: list(range(each)) for who in range(PROCESSES)}


@pytest.mark.parametrize("lines", LINES)
def test_appenders_through_the_mount_lose_no_line(mounted, lines):
    path = (
        mounted.root / f"log-{uuid.uuid4().hex[:8]}.txt"
    )  # absent: the first `>>` race to make it
    race(
        [
            [sys.executable, "-c", THROUGH_THE_MOUNT, str(path), str(who), str(lines)]
            for who in range(PROCESSES)
        ],
        mounted.root,
    )
    assert_every_line_whole(mounted.d.store.read(path.name), lines)
    assert_every_line_whole(path.read_bytes(), lines)


@pytest.mark.parametrize("lines", LINES)
def test_appenders_through_the_view_lose_no_line(shared_backend, s3_options, lines):
    options = {k: v for k, v in shared_backend.options.items() if k != "session"}
    path = "logs/app.log"  # absent at first: the first appends race to create it
    args = [sys.executable, "-c", THROUGH_THE_VIEW, shared_backend.url, json.dumps(options), path]
    race([[*args, str(who), str(lines)] for who in range(PROCESSES)], None)
    fs = PersiDictFileSystem(
        fo=shared_backend.url, target_options=shared_backend.options, skip_instance_cache=True
    )
    assert_every_line_whole(fs.cat_file(path), lines)


def test_an_append_goes_after_a_write_made_while_it_was_open(mounted):
    path = mounted.root / f"late-{uuid.uuid4().hex[:8]}.txt"
    path.write_bytes(b"old ")
    with open(path, "ab", buffering=0) as f:
        f.write(b"mine")
        assert f.tell() == 8  # O_APPEND: past the stored bytes, then its own
        mounted.d.store.write(path.name, b"theirs ")  # another writer, not through the mount
    assert mounted.d.store.read(path.name) == b"theirs mine"


def test_an_appender_that_reads_commits_its_whole_file(mounted):
    path = mounted.root / f"rw-{uuid.uuid4().hex[:8]}.txt"
    path.write_bytes(b"old ")
    with open(path, "a+b", buffering=0) as f:
        f.write(b"new")
        f.seek(0)
        assert f.read() == b"old new"  # the stored value went under its bytes
    assert mounted.d.store.read(path.name) == b"old new"


def test_an_appender_renamed_while_open_takes_the_stored_bytes_along(mounted):
    name = f"moved-{uuid.uuid4().hex[:8]}"
    (mounted.root / f"{name}.txt").write_bytes(b"old ")
    with open(mounted.root / f"{name}.txt", "ab", buffering=0) as f:
        f.write(b"new")
        os.rename(mounted.root / f"{name}.txt", mounted.root / f"{name}.log")
    assert mounted.d.store.read(f"{name}.log") == b"old new"
    assert not mounted.d.store.exists(f"{name}.txt")


def test_appends_to_a_key_of_a_json_store_are_checked_as_json(mounted):
    key = f"n{uuid.uuid4().hex[:8]}"
    mounted.d[key] = 1
    path = mounted.root / f"{key}.json"
    f = open(path, "ab", buffering=0)  # noqa: SIM115 (its close is what is tested)
    f.write(b"x")
    with pytest.raises(OSError) as err:
        f.close()  # `1x` is no JSON: nothing stored
    assert err.value.errno == errno.EIO
    assert mounted.d[key] == 1
    with open(path, "ab") as f:
        f.write(b"2")
    assert mounted.d[key] == 12


def test_view_append_to_a_json_key_is_checked(tmp_path):
    fs = PersiDictFileSystem(fo=str(tmp_path), serialization_format="json")
    fs.pipe_file("k.json", b"1")
    with pytest.raises(FormatError, match="k.json"):
        fs.append_file("k.json", b"x")
    assert fs.append_file("k.json", b"2") == 2
    assert fs.append_file("notes.txt", b"any bytes {") == 11  # a plain file: as given
    assert fs.cat_file("k.json") == b"12"


def test_an_append_that_always_loses_the_race_fails_with_eagain(tmp_path):
    fs = PersiDictFileSystem(fo=str(tmp_path), skip_instance_cache=True)
    fs.pipe_file("hot", b"0")
    rewrites = []

    def data(out):  # called in every attempt, after the old bytes were read
        rewrites.append(1)
        fs.pipe_file("hot", b"%d" % len(rewrites))  # another writer gets there first
        out.write(b"!")

    with pytest.raises(OSError, match="'hot'.* 5 times .*nothing written") as err:
        fs.append_file("hot", data, repeatable=True, attempts=5)
    assert err.value.errno == errno.EAGAIN
    assert len(rewrites) == 5 + 1  # counted once, then once per attempt
    assert fs.cat_file("hot") == b"%d" % len(rewrites)  # the other writer's, untouched


def test_an_uncontended_append_on_s3_is_one_get_and_one_put(s3_options):
    fs = PersiDictFileSystem(
        fo=f"s3://persidict-tests/{uuid.uuid4().hex[:12]}",
        target_options=s3_options,
        skip_instance_cache=True,
    )
    fs.pipe_file("log.txt", b"one\n")
    fs.store.check_conditional_writes()  # probed once per endpoint, not per append
    with s3_requests(fs.store) as sent:
        assert fs.append_file("log.txt", b"two\n") == 8
    assert sent == Counter(GetObject=1, PutObject=1)
    with s3_requests(fs.store) as sent:
        assert fs.append_file("new.txt", b"first\n") == 6
    assert sent == Counter(GetObject=1, PutObject=1)  # absent: a create (If-None-Match)
    assert fs.cat_file("log.txt") == b"one\ntwo\n"


def test_a_big_append_through_open_ab_streams_and_lands_whole(backend):
    fs = PersiDictFileSystem(
        fo=backend.url, target_options=backend.options, skip_instance_cache=True
    )
    fs.spill_threshold = 1 << 20  # the appender's bytes spill to a temp file
    fs.pipe_file("big.bin", b"head")
    added = os.urandom(9 << 20)  # beyond one read of the old bytes (appending.BLOCK)
    with fs.open("big.bin", "ab") as f:
        f.write(added)
    fs.append_file("big.bin", b"tail")  # its old bytes: a head, then a ranged read
    assert fs.cat_file("big.bin") == b"head" + added + b"tail"

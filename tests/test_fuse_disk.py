"""The mount answers as a disk does: errors, times, everyday tools, other users.

Each tool runs in a plain folder and in the mount (local and S3), and the two
must agree; where a store cannot do what a disk does, the test names it.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid

import pytest

from persidict import open_dict
from persidict_fs import mount
from persidict_fs.mount import MountError
from tests.fuse_helpers import raw_mount

PAST = 981173106  # 2001-02-03 04:05:06 UTC


@pytest.fixture(scope="module", params=["local", "s3"])
def mnt(request, tmp_path_factory):
    """A raw (bytes) store mounted for the module; each test works in a folder of its own."""
    with raw_mount(request, tmp_path_factory, "disk") as (point, _log):
        yield point


@pytest.fixture
def both(mnt, tmp_path):
    """A fresh folder in the mount and one on the local disk."""
    here = mnt / f"t{uuid.uuid4().hex[:8]}"
    here.mkdir()
    disk = tmp_path / "disk"
    disk.mkdir()
    return here, disk


def errno_of(call, *args) -> str:
    try:
        call(*args)
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return "ok"


def sh(script: str, cwd) -> str:
    done = subprocess.run(
        ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{script!r} in {cwd}: {done.stderr}"
    return done.stdout


def test_errors_are_the_ones_a_disk_gives(both):
    for where in both:
        (where / "f").write_bytes(b"x")
    long = "a" * 256
    cases = {
        "create a 256-byte name": lambda w: open(w / long, "wb").close(),
        "stat a 256-byte name": lambda w: os.stat(w / long),
        "mkdir a 256-byte name": lambda w: os.mkdir(w / long),
        "rename to a 256-byte name": lambda w: os.rename(w / "f", w / long),
        "create through a file": lambda w: open(w / "f" / "x", "wb").close(),
        "stat through a file": lambda w: os.stat(w / "f" / "x"),
        "rmdir a file": lambda w: os.rmdir(w / "f"),
        "unlink a missing file": lambda w: os.unlink(w / "missing"),
    }
    mounted, disk = both
    got = {what: errno_of(case, mounted) for what, case in cases.items()}
    assert got == {what: errno_of(case, disk) for what, case in cases.items()}
    assert got["create a 256-byte name"] == "ENAMETOOLONG"


def test_a_hard_link_is_refused_the_same_way_every_time_and_leaves_nothing(mnt):
    here = mnt / f"t{uuid.uuid4().hex[:8]}"
    here.mkdir()
    for i in range(5):
        (here / f"f{i}").write_bytes(b"x")  # created a moment before
        assert errno_of(os.link, here / f"f{i}", here / f"g{i}") == "EPERM"
        os.unlink(here / f"f{i}")
    assert os.listdir(here) == []


def test_times_set_by_touch_and_utime_are_kept_exactly(both):
    for where in both:
        (where / "a").write_bytes(b"1")
        (where / "b").write_bytes(b"2")
        os.utime(where / "b", ns=(PAST * 10**9, PAST * 10**9))
        sh("touch -m -d @981173106 a", where)  # the access time left as it is (UTIME_OMIT)
        with open(where / "c", "wb") as f:  # a time set while the file is open for writing
            f.write(b"3")
            f.flush()  # a write after the time would set it to now, on a disk as here
            os.utime(f.fileno(), ns=(PAST * 10**9, (PAST + 60) * 10**9))
    mounted, disk = both
    times = {n: int(os.stat(mounted / n).st_mtime) for n in "abc"}
    assert times == {n: int(os.stat(disk / n).st_mtime) for n in "abc"}
    assert times == {"a": PAST, "b": PAST, "c": PAST + 60}


def test_tar_extract_keeps_every_file_time(both, tmp_path):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    for i, name in enumerate(["pkg/__init__.py", "pkg/m.py", "README"]):
        (src / name).write_text(f"file {i}\n")
        os.utime(src / name, (PAST + i, PAST + i))
    sh(f"tar -C {src} -cf {tmp_path}/t.tar .", tmp_path)
    found = []
    for where in both:
        sh(f"tar -xf {tmp_path}/t.tar", where)
        found.append(sh("find . -type f -printf '%p %T@ %s\\n' | sort", where))
    assert f"./pkg/m.py {PAST + 1}.0000000000 7" in found[0]
    assert found[0] == found[1]


def test_rsync_twice_sends_nothing_the_second_time(both, tmp_path):
    src = tmp_path / "src"
    (src / "pkg" / "sub").mkdir(parents=True)
    for name in ["pkg/__init__.py", "pkg/sub/__init__.py", "a.txt"]:
        (src / name).write_text(name)
    for where in both:
        sh(f"rsync -a {src}/ {where}/", tmp_path)
        again = sh(f"rsync -ai {src}/ {where}/", tmp_path)
        assert again == "", again  # nothing sent, no folder's time set again
    assert sh("find . -type f | sort", both[0]) == sh("find . -type f | sort", both[1])


def test_git_clone_then_commit_all_finds_nothing_to_commit(both, tmp_path):
    origin = tmp_path / "origin"
    origin.mkdir()
    git = "git -c user.email=t@t -c user.name=t"
    sh(f"git init -q && for i in $(seq 1 40); do echo line $i > f$i.txt; done && "
       f"mkdir d && cp f1.txt d/ && {git} add . && {git} commit -qm one", origin)  # fmt: skip
    for where in both:
        sh(f"git clone -q {origin} clone", where)
        done = subprocess.run(f"{git} commit -a -m two", shell=True, cwd=where / "clone",
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 1 and "nothing to commit" in done.stdout, done.stdout
        assert sh("git status --porcelain", where / "clone") == ""
        sh("cd clone && git fsck --strict 2>&1", where)
        assert (where / "clone" / "f7.txt").read_text() == "line 7\n"


def test_sqlite_in_wal_mode_works(both):
    rows = []
    for where in both:
        db = sqlite3.connect(where / "db.sqlite")
        assert db.execute("pragma journal_mode=wal").fetchone() == ("wal",)
        db.execute("create table t(x)")
        with db:
            db.executemany("insert into t values (?)", [(i,) for i in range(100)])
        rows.append(db.execute("select sum(x), count(*) from t").fetchone())
        db.close()
        again = sqlite3.connect(where / "db.sqlite")
        rows.append(again.execute("select sum(x), count(*) from t").fetchone())
        again.close()
    assert rows == [(4950, 100)] * 4


def test_other_users_use_the_mount_only_with_allow_other(tmp_path):
    if not shutil.which("setpriv") or os.getuid() != 0:
        pytest.fail("needs root and setpriv (util-linux) to act as another user")
    top = tempfile.mkdtemp(prefix="persidict-other-")  # outside pytest's private temp folder
    try:
        os.chmod(top, 0o755)
        store, point = os.path.join(top, "store"), os.path.join(top, "mnt")
        open_dict(store, "bytes")["seen"] = b"yes"
        os.mkdir(point)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat"]
        for allow_other, expected in [(False, 1), (True, 0)]:
            with mount(store, point, serialization_format="bytes", allow_other=allow_other,
                       log_file=tmp_path / "log"):  # fmt: skip
                done = subprocess.run([*as_nobody, f"{point}/seen"], capture_output=True)
                assert done.returncode == expected, done.stderr
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_mount_point_inside_its_own_store_is_refused(tmp_path):
    store = tmp_path / "store"
    open_dict(str(store), "bytes")["k"] = b"v"
    (store / "mnt").mkdir()
    with pytest.raises(MountError, match="the mount point is inside the store"):
        mount(str(store), store / "mnt", serialization_format="bytes", foreground=True)
    assert os.listdir(store / "mnt") == []

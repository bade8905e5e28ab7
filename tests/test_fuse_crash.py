"""The mount server killed mid-write: the old value stays whole, nothing stays behind.

And the dead mount it leaves is cleaned up by ``Mount.unmount()`` or by the
next ``mount()`` at the same point; a live mount point is refused.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import uuid

import pytest
from fuse_helpers import Mounted, wait_written

from persidict import open_dict
from persidict_fs import MountError, mount
from persidict_fs.fuse import JOURNALS
from persidict_fs.fuse_files import Journal
from persidict_fs.mount import mounted_fs


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "store"), {}
    return f"s3://persidict-tests/crash-{uuid.uuid4().hex[:8]}", dict(
        request.getfixturevalue("s3_options")
    )


def stored_names(d) -> list[str]:
    """Every file in the store, its own temp files included."""
    return sorted(e.path for e in d.store.walk("")) + sorted(
        os.path.relpath(os.path.join(top, n), d.store.url)
        for top, _, names in os.walk(d.store.url)
        for n in names
        if n.startswith(".")
    )


def test_killing_the_server_during_a_big_dd_keeps_the_old_value(store, tmp_path):
    url, options = store
    d = open_dict(url, "bytes", **options)
    d["v"] = b"old value"
    mnt, spill, log = tmp_path / "mnt", tmp_path / "spill", tmp_path / "log"
    mnt.mkdir()
    spill.mkdir()
    m = mount(url, mnt, log_file=log, spill_threshold=1 << 20, spill_dir=str(spill), **options)
    dd = subprocess.Popen(
        ["dd", f"of={mnt}/v", "bs=1M", "status=none"],
        stdin=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    block = os.urandom(1 << 20)
    for _ in range(16):
        dd.stdin.write(block)
    dd.stdin.flush()
    wait_written(dd.pid, 1, mnt / "v", 16 << 20)  # 16 MB at the server, spilled
    m.process.send_signal(signal.SIGKILL)
    m.process.wait()
    dd.kill()
    dd.wait()
    assert mounted_fs(mnt) is not None  # dead, still mounted: "not connected"
    with pytest.raises(OSError):
        os.listdir(mnt)
    assert d["v"] == b"old value"
    assert stored_names(d) == ["v"]
    assert os.listdir(spill) == []  # the spill file was anonymous
    with pytest.raises(MountError, match="exited with -9"):
        m.unmount()  # says how the server ended, and cleans up
    assert mounted_fs(mnt) is None
    with mount(url, mnt, log_file=log, **options):  # a remount at the same point works
        assert (mnt / "v").read_bytes() == b"old value"
        assert os.listdir(mnt) == ["v"]


def test_a_new_mount_cleans_up_a_dead_one_at_its_mount_point(tmp_path, caplog):
    d = open_dict(str(tmp_path / "store"), "json")
    d["k"] = 1
    mnt, log = tmp_path / "mnt", tmp_path / "log"
    mnt.mkdir()
    dead = mount(d, mnt, log_file=log)
    dead.process.send_signal(signal.SIGKILL)
    dead.process.wait()
    with pytest.raises(OSError, match="not connected"):
        os.listdir(mnt)
    with mount(d, mnt, log_file=log) as m:
        assert Mounted(d, mnt, log, 1.0).sh("cat k.json").stdout == "1"
        assert m.mounted
    assert f"unmounting the dead mount at {mnt}" in caplog.text
    assert mounted_fs(mnt) is None


def test_mounting_onto_a_live_mount_point_is_refused(tmp_path):
    d = open_dict(str(tmp_path / "store"), "json")
    d["k"] = 1
    (tmp_path / "mnt").mkdir()
    with mount(d, tmp_path / "mnt", log_file=tmp_path / "log"):
        with pytest.raises(MountError) as info:
            mount(d, tmp_path / "mnt", log_file=tmp_path / "log")
        assert str(info.value) == f"{tmp_path / 'mnt'} is already a mount point: unmount it first"
        assert os.listdir(tmp_path / "mnt") == ["k.json"]  # the first mount still serves
    assert mounted_fs(tmp_path / "mnt") is None  # one mount, not two stacked


def dead_pids(n: int) -> list[int]:
    """Ids of ``n`` processes that have exited (and been reaped)."""
    processes = [subprocess.Popen(["true"]) for _ in range(n)]
    for p in processes:
        p.wait()
    return [p.pid for p in processes]


def test_a_store_temp_file_left_by_a_server_killed_mid_commit_goes_at_the_next_mount(
    tmp_path, monkeypatch
):
    # What a server killed while the store copied a big value in leaves: the store's
    # temp file, named in the server's journal. A dead server's journal is simulated,
    # in a temp folder of this test's own (the server inherits TMPDIR): another mount
    # starting meanwhile, in another test, would otherwise clean it first.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    d = open_dict(str(tmp_path / "store"), "json")
    d["k"] = 1
    temp = tmp_path / "store" / ".#k.json.dead-1"
    temp.write_bytes(b"half")
    [dead] = dead_pids(1)
    journals = tmp_path / "tmp" / JOURNALS
    journals.mkdir()
    (journals / f"{dead}.journal").write_text(f"{temp}\n")
    (tmp_path / "mnt").mkdir()
    with mount(d, tmp_path / "mnt", log_file=tmp_path / "log"):
        assert not temp.exists()
        assert os.listdir(journals) == []
    assert (
        f"removed {temp}: a mount server died while committing it" in (tmp_path / "log").read_text()
    )
    assert sorted(os.listdir(tmp_path / "store")) == ["k.json"]


def test_mounts_starting_together_clean_each_dead_journal_once_and_all_of_them(tmp_path):
    # Four cleaners at once over 30 dead servers' journals, one claimed by a cleaner
    # that died too, and one journal of a live server (this process).
    journals, store = tmp_path / "journals", tmp_path / "store"
    journals.mkdir()
    store.mkdir()
    dead = dead_pids(32)
    temps = []
    for i, pid in enumerate(dead[:30]):
        paths = [store / f".#k{i}-{j}.json.{pid}" for j in range(5)]
        for path in paths:
            path.write_bytes(b"half")
        temps += paths
        (journals / f"{pid}.journal").write_text("".join(f"{p}\n" for p in paths))
    orphan = store / f".#orphan.json.{dead[30]}"
    orphan.write_bytes(b"half")
    (journals / f"{dead[30]}.journal.cleaning-{dead[31]}").write_text(f"{orphan}\n")
    live = store / ".#live.json.1"
    live.write_bytes(b"being written")
    (journals / f"{os.getpid()}.journal").write_text(f"{live}\n")
    start = threading.Barrier(4)
    results: list[list[str]] = []

    def clean() -> None:
        start.wait()
        results.append(Journal.clean(str(journals), lambda name: name.startswith(".#")))

    cleaners = [threading.Thread(target=clean) for _ in range(4)]
    for t in cleaners:
        t.start()
    for t in cleaners:
        t.join()
    removed = [path for result in results for path in result]
    assert sorted(removed) == sorted(map(str, [*temps, orphan]))  # each once, none missed
    assert os.listdir(store) == [live.name]
    assert os.listdir(journals) == [f"{os.getpid()}.journal"]

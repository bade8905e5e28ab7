"""A local store under faults (a full disk, clashing paths): errors name the path, nothing lost."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

from persidict import FileDirDict
from persidict.storage.local import LocalStore


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (needs root)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_a_full_disk_keeps_the_old_value_leaves_no_temp_and_names_the_path(tiny_disk):
    store = LocalStore(tiny_disk)
    store.write("k", b"old value")
    store.write("g/k", b"old value")
    big = os.urandom(2 << 20)  # twice the disk

    def big_writer(f) -> None:
        f.write(big)

    for path in ("k", "g/k", "new/deep/k"):
        for op, data in ((store.write, big), (store.create, big_writer)):
            with pytest.raises(OSError) as failed:
                op(path, data)
            assert failed.value.errno == errno.ENOSPC
            assert failed.value.filename == os.path.join(str(tiny_disk), path)
    assert store.read("k") == store.read("g/k") == b"old value"
    left = sorted(
        os.path.relpath(os.path.join(f, n), tiny_disk)
        for f, _, ns in os.walk(tiny_disk)
        for n in ns
    )
    assert left == ["g/k", "k"]  # no temp file, no folder "new" made for the failed write
    assert sorted(os.listdir(tiny_disk)) == ["g", "k"]


def test_a_full_disk_through_the_dict_names_the_file(tiny_disk):
    d = FileDirDict(tiny_disk, serialization_format="bytes")
    d["k"] = b"old value"
    with pytest.raises(OSError) as failed:
        d["k"] = os.urandom(2 << 20)
    assert failed.value.errno == errno.ENOSPC
    assert str(failed.value.filename).endswith("/k")
    assert d["k"] == b"old value"
    assert os.listdir(tiny_disk) == ["k"]


def test_a_file_where_a_folder_would_be_is_an_error_naming_it(tmp_path):
    store = LocalStore(tmp_path)
    store.write("x.pkl", b"v")
    for attempt in (
        lambda: store.write("x.pkl/y", b"w"),
        lambda: store.create("x.pkl/y/z", b"w"),
        lambda: store.make_folder("x.pkl/y"),
    ):
        with pytest.raises(NotADirectoryError) as failed:
            attempt()
        assert str(failed.value.filename).startswith(os.path.join(str(tmp_path), "x.pkl"))
        assert "stored file is where a folder" in str(failed.value)
    with pytest.raises(FileNotFoundError):  # a read there finds nothing, it does not fail
        store.read("x.pkl/y")
    assert not store.exists("x.pkl/y")


def test_a_folder_where_a_file_would_be_is_an_error_naming_it(tmp_path):
    store = LocalStore(tmp_path)
    store.write("x.pkl/y", b"v")
    for attempt in (lambda: store.write("x.pkl", b"w"), lambda: store.create("x.pkl", b"w")):
        with pytest.raises(IsADirectoryError) as failed:
            attempt()
        assert failed.value.filename == os.path.join(str(tmp_path), "x.pkl")
    with pytest.raises(FileExistsError):
        store.make_folder("x.pkl/y")
    assert sorted(store.iter_paths()) == ["x.pkl/y"]
    assert os.listdir(tmp_path / "x.pkl") == ["y"]  # the failed writes left no temp file


def test_a_name_too_long_to_exist_is_absent_for_reads(tmp_path):
    store = LocalStore(tmp_path)
    path = "/".join(["p" * 200] * 30)
    with pytest.raises(FileNotFoundError):
        store.read(path)
    assert not store.exists(path)


def test_where_a_folder_cannot_be_locked_a_lock_file_stands_in_and_is_released(
    tmp_path, monkeypatch
):
    import fcntl
    import stat

    from persidict.storage import local_commits

    real_flock = fcntl.flock

    def nfs_like_flock(fd: int, op: int) -> None:  # NFS: no flock on a folder's descriptor
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.ENOLCK, "no locks available")
        real_flock(fd, op)

    monkeypatch.setattr(local_commits.fcntl, "flock", nfs_like_flock)
    store = LocalStore(tmp_path)
    etag = store.write("g/k", b"1")
    etag = store.write_if("g/k", b"2", etag)
    store.write_many({"g/a": b"a", "g/b": b"b"})
    store.delete_many(["g/a"])
    store.delete_if("g/k", etag)
    assert store.create("g/k", b"3") is not None
    assert sorted(store.iter_paths()) == ["g/b", "g/k"]  # the lock file is no stored file
    with open(tmp_path / "g" / local_commits.LOCK_NAME, "rb") as lock:
        real_flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # every commit let go of it

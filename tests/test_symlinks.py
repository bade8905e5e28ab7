"""Symlinks planted inside a local store are never followed: nothing outside the root is touched."""

from __future__ import annotations

import errno
import itertools
import logging
import os
import random
import stat

import pytest

from persidict import FileDirDict
from persidict.storage import beneath
from persidict.storage.local import LocalStore

SECRET = b"outside the store"


@pytest.fixture(params=["openat2", "stepwise"])
def resolve(request, monkeypatch):
    """Both ways of resolving paths: one openat2 call, or O_NOFOLLOW step by step."""
    if request.param == "stepwise":
        monkeypatch.setattr(beneath, "_syscall", None)
    elif beneath._syscall is None:
        pytest.fail("no openat2 on this system (Linux 5.6 and newer have it)")
    return request.param


@pytest.fixture
def planted(tmp_path, resolve):
    """A store whose folder ``link`` and file ``f`` are symlinks to files outside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(SECRET)
    (outside / "secret").write_bytes(SECRET)
    root = tmp_path / "store"
    root.mkdir()
    (root / "a").mkdir()
    os.symlink(outside, root / "link")
    os.symlink(outside, root / "a" / "link")
    os.symlink(outside / "secret", root / "f")
    return LocalStore(root), outside


def outside_untouched(outside) -> bool:
    return sorted(os.listdir(outside)) == ["secret", "victim"] and all(
        (outside / n).read_bytes() == SECRET for n in ("secret", "victim")
    )


def refused(exc_info, path_end: str) -> None:
    assert exc_info.value.errno == errno.ELOOP
    assert str(exc_info.value.filename).endswith(path_end)
    assert "symlink" in str(exc_info.value)


FOLDER_LINKS = ["link/victim", "a/link/victim"]


@pytest.mark.parametrize("path", FOLDER_LINKS)
@pytest.mark.parametrize("op", ["write", "create", "write_if"])
def test_writes_through_a_symlinked_folder_are_refused(planted, path, op):
    store, outside = planted
    args = {"write": (b"x",), "create": (b"x",), "write_if": (b"x", "any-etag")}[op]
    with pytest.raises(OSError) as failed:
        getattr(store, op)(path, *args)
    refused(failed, path.rpartition("/")[0])
    assert outside_untouched(outside)


@pytest.mark.parametrize("path", FOLDER_LINKS)
def test_deletes_through_a_symlinked_folder_are_refused(planted, path):
    store, outside = planted
    with pytest.raises(OSError) as failed:
        store.delete(path)
    refused(failed, path.rpartition("/")[0])
    with pytest.raises(OSError):
        store.delete_if(path, "any-etag")
    results = store.delete_many([path, "a/link/secret"], missing_ok=True)
    assert all(isinstance(r, OSError) and r.errno == errno.ELOOP for r in results)
    assert outside_untouched(outside)


@pytest.mark.parametrize("path", [*FOLDER_LINKS, "f"])
def test_reads_through_a_symlink_are_refused(planted, path):
    store, _ = planted
    for read in (store.read, store.read_with_etag, store.open_read):
        with pytest.raises(OSError) as failed:
            read(path)
        refused(failed, path.rpartition("/")[0] or path)
    assert not store.exists(path)
    with pytest.raises(OSError):
        store.info(path)


def test_listings_skip_symlinks_with_a_log_line(planted, caplog):
    store, _ = planted
    store.write("a/real", b"v")
    with caplog.at_level(logging.WARNING, logger="persidict.storage.local"):
        assert list(store.iter_paths()) == ["a/real"]
        assert [e.path for e in store.walk()] == ["a/real"]
        assert store.listdir("") == ([], ["a"])
        assert [e.path for e in store.listdir("a")[0]] == ["a/real"]
        assert list(store.iter_paths("link")) == []
        assert store.listdir("link") == ([], [])
    skipped = [r.getMessage() for r in caplog.records]
    assert any("symlink" in m and m.split()[2].endswith("/store/link:") for m in skipped)
    assert any("/store/f" in m for m in skipped)


def test_a_write_at_a_file_symlink_replaces_the_link_not_its_target(planted):
    store, outside = planted
    store.write("f", b"mine")
    assert store.read("f") == b"mine"
    assert not os.path.islink(os.path.join(store.root, "f"))
    assert outside_untouched(outside)


def test_a_delete_at_a_file_symlink_removes_the_link_only(planted):
    store, outside = planted
    store.delete("f")
    assert not os.path.lexists(os.path.join(store.root, "f"))
    assert outside_untouched(outside)


def test_loops_and_dangling_links_are_skipped_and_never_hang(tmp_path, resolve, caplog):
    root = tmp_path / "store"
    (root / "d").mkdir(parents=True)
    os.symlink("loop", root / "loop")  # a link to itself
    os.symlink("..", root / "d" / "up")  # a cycle through the parent
    os.symlink(tmp_path / "nowhere", root / "dangling")
    store = LocalStore(root)
    store.write("d/k", b"v")
    with caplog.at_level(logging.WARNING, logger="persidict.storage.local"):
        assert list(store.iter_paths()) == ["d/k"]
        assert [e.path for e in store.walk()] == ["d/k"]
    assert len(caplog.records) == 6  # three links, each seen by both listings
    for path in ("loop/x", "d/up/d/k", "dangling"):
        with pytest.raises(OSError):
            store.read(path)


def test_setdefault_at_a_dangling_symlink_raises_instead_of_spinning(tmp_path, resolve):
    d = FileDirDict(tmp_path / "store")
    os.symlink(tmp_path / "nowhere", tmp_path / "store" / "x.pkl")
    with pytest.raises(OSError) as failed:
        d.setdefault("x", 5)
    assert str(failed.value.filename).endswith("x.pkl")
    assert not os.path.exists(tmp_path / "nowhere")


def test_the_dict_cannot_escape_through_a_symlinked_folder(planted):
    store, outside = planted
    d = FileDirDict(store.root, serialization_format="bytes")
    with pytest.raises(OSError):
        d["link", "planted"] = b"x"
    with pytest.raises(OSError):
        del d["link", "victim"]
    with pytest.raises(OSError):
        d["link", "victim"]
    d.get_subdict("link").clear()
    d.clear()
    assert outside_untouched(outside)
    assert os.path.islink(os.path.join(store.root, "link"))


@pytest.mark.parametrize("path", FOLDER_LINKS)
def test_batches_through_a_symlinked_folder_are_refused(planted, path):
    store, outside = planted
    for results in (
        store.write_many({path: b"x", "ok": b"fine"}),
        store.create_many({path: b"x", "ok2": b"fine"}),
        store.read_many([path, "ok"]),
    ):
        assert isinstance(results[0], OSError) and results[0].errno == errno.ELOOP
        assert not isinstance(results[1], BaseException)
    assert outside_untouched(outside)


def _stored_file_at(root: str, path: str) -> bool:
    """Ground truth for ``exists``: each folder on ``path`` real (no symlink), the name a file."""
    *folders, name = path.split("/")
    at = root
    for part in folders:
        at = os.path.join(at, part)
        if not os.path.lexists(at) or not stat.S_ISDIR(os.lstat(at).st_mode):
            return False
    at = os.path.join(at, name)
    return os.path.lexists(at) and stat.S_ISREG(os.lstat(at).st_mode)


@pytest.mark.parametrize("seed", range(4))
def test_exists_agrees_with_a_step_by_step_lstat_on_random_trees(tmp_path, resolve, seed):
    """Random trees of files, folders, FIFOs and symlinks (to folders and files inside and
    outside, dangling, looping) at every depth: ``exists`` says True exactly for the
    paths that reach a regular file through real folders, and the dict's ``in`` agrees."""
    rng = random.Random(seed)
    outside = tmp_path / "outside"
    (outside / "n0").mkdir(parents=True)
    (outside / "n0" / "n1").write_bytes(SECRET)
    (outside / "n1").write_bytes(SECRET)
    root = tmp_path / "store"
    root.mkdir()
    names = ["n0", "n1", "n2"]
    folders = [root]
    for _ in range(40):
        at = rng.choice(folders) / rng.choice(names)
        if os.path.lexists(at):
            continue
        kind = rng.choice(["file", "file", "folder", "folder", "link", "fifo"])
        if kind == "file":
            at.write_bytes(b"v")
        elif kind == "folder":
            at.mkdir()
            folders.append(at)
        elif kind == "fifo":
            os.mkfifo(at)
        else:
            target = rng.choice([outside, outside / "n0", outside / "n1", root / "n0", at, "gone"])
            os.symlink(target, at)
    before = sorted(os.walk(outside))
    store = LocalStore(root)
    d = FileDirDict(root, serialization_format="bytes")
    paths = ["/".join(p) for depth in (1, 2, 3) for p in itertools.product(names, repeat=depth)]
    for path in paths:
        expected = _stored_file_at(str(root), path)
        assert store.exists(path) is expected, path
        assert (tuple(path.split("/")) in d) is expected, path
    assert sorted(os.walk(outside)) == before

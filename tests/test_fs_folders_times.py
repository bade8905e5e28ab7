"""Times set through the view stay; empty folders made through it persist, never as keys."""

from __future__ import annotations

import io

import pytest

from persidict.storage.base import ByteStore
from persidict_fs import PersiDictFileSystem
from tests.conftest import Backend


def keeps(backend: Backend, method: str) -> bool:
    """True if the backend's store implements ``method`` (times, empty folders)."""
    store = backend.open("bytes").store
    return getattr(type(store), method) is not getattr(ByteStore, method)


@pytest.fixture
def fs(backend: Backend) -> PersiDictFileSystem:
    return PersiDictFileSystem(fo=backend.url, target_options=backend.options)


def test_set_mtime_stays_and_info_modified_and_ls_report_it(fs, backend):
    fs.pipe_file("d/f", b"x")
    if not keeps(backend, "set_mtime"):
        with pytest.raises(io.UnsupportedOperation):
            fs.set_mtime("d/f", 1_000_000_000)
        return
    fs.set_mtime("d/f", 1_000_000_000.5)
    assert fs.info("d/f")["mtime"] == pytest.approx(1_000_000_000.5, abs=1e-3)
    assert fs.modified("d/f").timestamp() == pytest.approx(1_000_000_000.5, abs=1e-3)
    if backend.name == "local":  # an S3 listing reports LastModified: no HEAD per object
        assert fs.ls("d")[0]["mtime"] == pytest.approx(1_000_000_000.5, abs=1e-3)
    assert fs.cat_file("d/f") == b"x"
    with pytest.raises(FileNotFoundError, match="'d/none'"):
        fs.set_mtime("d/none", 1)


def test_touch_without_truncate_renews_the_time_and_keeps_the_bytes(fs, backend):
    fs.pipe_file("t", b"kept")
    if keeps(backend, "set_mtime"):
        fs.set_mtime("t", 1_000_000_000)
    before = fs.info("t")["mtime"]
    fs.touch("t", truncate=False)
    assert fs.cat_file("t") == b"kept"
    assert fs.info("t")["mtime"] >= before
    fs.touch("new", truncate=False)
    assert fs.cat_file("new") == b""


def test_a_folder_keeps_no_time_of_its_own(fs, backend):
    fs.pipe_file("d/f", b"x")
    if keeps(backend, "set_mtime"):
        fs.set_mtime("d", 1_000_000_000)  # accepted, as the mount accepts it
    assert fs.cat_file("d/f") == b"x"


def test_mkdir_persists_an_empty_folder_that_is_no_key(backend):
    d = backend.open("json")
    fs = PersiDictFileSystem(dict=d)
    fs.mkdir("empty/deeper")
    fs.makedirs("other", exist_ok=True)
    if not keeps(backend, "make_folder"):
        assert not fs.exists("empty")  # folders exist while they hold files there
        return
    again = PersiDictFileSystem(dict=backend.open("json"))  # nothing kept in memory
    assert again.ls("", detail=False) == ["empty", "other"]
    assert again.ls("empty", detail=False) == ["empty/deeper"]
    assert again.isdir("empty/deeper") and again.info("other")["type"] == "directory"
    assert list(d) == [] and again.find("") == []
    with pytest.raises(FileExistsError):
        again.makedirs("other", exist_ok=False)


def test_rmdir_removes_an_empty_folder_and_refuses_a_full_one(backend):
    fs = PersiDictFileSystem(fo=backend.url, target_options=backend.options)
    fs.pipe_file("full/f", b"1")
    fs.mkdir("full/empty")
    with pytest.raises(OSError, match="not empty"):
        fs.rmdir("full")
    if keeps(backend, "remove_folder"):
        fs.rmdir("full/empty")
        assert fs.ls("full", detail=False) == ["full/f"]
    fs.rm("full", recursive=True)
    assert not fs.exists("full") and fs.ls("", detail=False) == []


def ls_r(fs: PersiDictFileSystem, path: str = "") -> set[str]:
    """Every file and folder below ``path``, found by ``ls`` folder by folder."""
    out = set()
    for info in fs.ls(path, detail=True):
        out.add(info["name"])
        if info["type"] == "directory":
            out |= ls_r(fs, info["name"])
    return out


def test_find_and_walk_show_empty_folders_as_ls_does(backend):
    fs = PersiDictFileSystem(dict=backend.open("json"))
    fs.pipe_file("a/x.json", b"1")  # a key
    fs.pipe_file("a/b c/notes.txt", b"n")  # a plain file
    fs.mkdir("a/empty/deeper")
    fs.mkdir("top")
    fs.mkdir("a/b c")  # a folder made empty, then filled
    again = PersiDictFileSystem(dict=backend.open("json"))  # nothing kept in memory
    seen = ls_r(again)
    assert seen == {"a", "a/x.json", "a/b c", "a/b c/notes.txt", "a/empty", "a/empty/deeper", "top"}
    assert set(again.find("", withdirs=True)) == seen
    assert again.find("", withdirs=True, maxdepth=2) == ["a", "a/b c", "a/empty", "a/x.json", "top"]
    assert again.find("a", withdirs=True) == sorted(p for p in seen if p.startswith("a"))
    assert again.find("top", withdirs=True) == ["top"]
    assert again.find("") == ["a/b c/notes.txt", "a/x.json"]  # files only, as before
    walked = {f"{top}/{n}".lstrip("/") for top, dirs, files in again.walk("") for n in dirs + files}
    assert walked == seen
    assert list(again.walk("a/empty")) == [("a/empty", ["deeper"], []), ("a/empty/deeper", [], [])]
    assert list(again.walk("top")) == [("top", [], [])]
    assert [(top, dirs) for top, dirs, _ in again.walk("", maxdepth=1)] == [("", ["a", "top"])]
    assert list(backend.open("json")) == [("a", "x")]  # folders are never keys

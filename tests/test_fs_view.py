"""The filesystem view's calls, on a local folder, memory:// and S3 (moto)."""

from __future__ import annotations

import pickle

import pytest

from persidict import FormatError
from persidict_fs import PersiDictFileSystem
from tests.conftest import Backend


def view(backend: Backend, fmt: str | None = "bytes") -> PersiDictFileSystem:
    return PersiDictFileSystem(
        fo=backend.url,
        target_options=backend.options,
        serialization_format=fmt,
        skip_instance_cache=True,
    )


@pytest.fixture
def fs(backend: Backend) -> PersiDictFileSystem:
    """A raw-bytes view holding a small tree of files."""
    fs = view(backend)
    for path in ["a/x", "a/y", "a/sub/z", "top"]:
        fs.pipe_file(path, path.encode())
    return fs


def test_ls_lists_one_level_with_and_without_detail(fs):
    assert fs.ls("", detail=False) == ["a", "top"]
    assert fs.ls("a", detail=False) == ["a/sub", "a/x", "a/y"]
    by_name = {i["name"]: i for i in fs.ls("a")}
    assert by_name["a/sub"]["type"] == "directory"
    assert by_name["a/x"]["type"] == "file"
    assert by_name["a/x"]["size"] == 3


def test_ls_of_a_file_is_the_file_and_of_nothing_raises(fs):
    assert fs.ls("a/x", detail=False) == ["a/x"]
    with pytest.raises(FileNotFoundError):
        fs.ls("nothing")


def test_info_tells_files_from_directories(fs):
    info = fs.info("a/sub/z")
    assert (info["type"], info["size"]) == ("file", 7)
    assert info["mtime"] > 1e9
    assert fs.info("a/sub")["type"] == "directory"
    assert fs.info("")["type"] == "directory"
    assert fs.isfile("top") and not fs.isdir("top")  # a file is no folder of itself
    with pytest.raises(FileNotFoundError):
        fs.info("a/none")
    assert fs.modified("a/x").year >= 2024


def test_a_folder_made_by_its_files_goes_with_them_except_on_a_disk(fs, backend):
    assert fs.exists("a/sub") and fs.isdir("a/sub")
    fs.rm("a/sub/z")
    on_disk = backend.name == "local"  # a local folder outlives its last file, as on any disk
    assert fs.exists("a/sub") is on_disk
    assert fs.ls("a", detail=False) == (["a/sub"] if on_disk else []) + ["a/x", "a/y"]


def test_find_and_walk_see_the_whole_tree(fs):
    assert fs.find("") == ["a/sub/z", "a/x", "a/y", "top"]
    assert fs.find("a", withdirs=True) == ["a", "a/sub", "a/sub/z", "a/x", "a/y"]
    assert fs.find("", maxdepth=1) == ["top"]
    assert fs.find("a/x") == ["a/x"]
    assert fs.find("missing") == []
    walked = {root: (dirs, files) for root, dirs, files in fs.walk("")}
    assert walked == {
        "": (["a"], ["top"]),
        "a": (["sub"], ["x", "y"]),
        "a/sub": ([], ["z"]),
    }


def test_glob_matches_patterns(fs):
    assert fs.glob("a/*") == ["a/sub", "a/x", "a/y"]
    assert fs.glob("**/z") == ["a/sub/z"]
    assert fs.glob("a/[xy]") == ["a/x", "a/y"]


def test_cat_file_reads_whole_values_and_ranges(fs):
    assert fs.cat_file("a/sub/z") == b"a/sub/z"
    assert fs.cat_file("a/sub/z", start=2, end=5) == b"sub"
    assert fs.cat_file("a/sub/z", start=-1) == b"z"
    assert fs.cat_file("a/sub/z", start=2, end=-2) == b"sub"
    assert fs.cat_file("a/sub/z", start=100) == b""
    assert fs.cat(["a/x", "top"]) == {"a/x": b"a/x", "top": b"top"}
    assert (fs.head("a/sub/z", 3), fs.tail("a/sub/z", 1)) == (b"a/s", b"z")
    with pytest.raises(FileNotFoundError):
        fs.cat_file("a/none")


def test_pipe_file_create_is_exclusive(fs):
    fs.pipe_file("new", b"1", mode="create")
    with pytest.raises(FileExistsError, match="'new'"):
        fs.pipe_file("new", b"2", mode="create")
    assert fs.cat_file("new") == b"1"


def test_open_modes_write_read_append_exclusive(fs):
    with fs.open("f/w", "wb") as f:
        f.write(b"ab")
        assert not fs.exists("f/w")  # nothing is stored before close
    with fs.open("f/w", "ab") as f:
        f.write(b"cd")
    with fs.open("f/w", "rb") as f:
        assert (f.read(2), f.read()) == (b"ab", b"cd")
    with pytest.raises(FileExistsError):
        fs.open("f/w", "xb")
    with fs.open("f/new", "xb") as f:
        f.write(b"x")
    with fs.open("f/t", "w") as f:
        f.write("text é")
    assert fs.open("f/t", "r", encoding="utf-8").read() == "text é"
    assert fs.cat_file("f/new") == b"x"


def test_a_failed_write_block_stores_nothing(fs):
    with pytest.raises(RuntimeError), fs.open("a/x", "wb") as f:
        f.write(b"half")
        raise RuntimeError("interrupted")
    assert fs.cat_file("a/x") == b"a/x"


def test_append_loses_no_concurrent_write(fs):
    f = fs.open("a/x", "ab")
    f.write(b"!")
    fs.pipe_file("a/x", b"other writer")
    f.close()  # appends to what is stored at its close
    assert fs.cat_file("a/x") == b"other writer!"


def test_transaction_commits_at_its_end(fs):
    with fs.transaction:
        with fs.open("tx", "wb") as f:
            f.write(b"later")
        assert not fs.exists("tx")
    assert fs.cat_file("tx") == b"later"


def test_rm_recursive_and_missing(fs):
    fs.rm("a", recursive=True)
    assert fs.find("") == ["top"]
    with pytest.raises(FileNotFoundError):
        fs.rm("a/x")
    with pytest.raises(FileNotFoundError):
        fs.rm("nothing", recursive=True)


def test_mv_and_cp_files_and_trees(fs):
    fs.cp("a", "b", recursive=True)
    fs.mv("top", "moved/top")
    assert fs.find("b") == ["b/sub/z", "b/x", "b/y"]
    assert fs.cat_file("b/sub/z") == b"a/sub/z"
    assert fs.cat_file("moved/top") == b"top"
    assert not fs.exists("top")
    fs.mv("a", "c", recursive=True)
    assert fs.find("c") == ["c/sub/z", "c/x", "c/y"] and not fs.exists("a")


def test_touch_creates_empty_or_renews(fs):
    fs.touch("t/empty")
    assert fs.cat_file("t/empty") == b""
    fs.touch("a/x", truncate=False)
    assert fs.cat_file("a/x") == b"a/x"
    fs.touch("a/x")
    assert fs.cat_file("a/x") == b""


def test_rmdir_refuses_a_folder_holding_files(fs):
    with pytest.raises(FileExistsError):
        fs.makedirs("a", exist_ok=False)
    with pytest.raises(OSError, match="not empty"):
        fs.rmdir("a")
    assert fs.cat_file("a/x") == b"a/x"
    with pytest.raises(ValueError, match=r"\.#"):
        fs.mkdir(".#bad")


def test_put_and_get_with_local_disk(fs, tmp_path):
    src = tmp_path / "src"
    (src / "deep").mkdir(parents=True)
    (src / "one").write_bytes(b"1")
    (src / "deep" / "two").write_bytes(b"2")
    fs.put(str(src), "up", recursive=True)
    assert fs.find("up") == ["up/deep/two", "up/one"]
    fs.get("up", str(tmp_path / "down"), recursive=True)
    assert (tmp_path / "down" / "deep" / "two").read_bytes() == b"2"
    fs.get("a/x", str(tmp_path / "x"))
    assert (tmp_path / "x").read_bytes() == b"a/x"


@pytest.mark.parametrize("path", ["a/../x", "a//b", "a/./b", "a/b\0c", "a/" + "é" * 128, ".#x"])
def test_names_no_linux_disk_takes_are_refused_by_name(fs, path):
    with pytest.raises(ValueError, match="invalid path"):
        fs.pipe_file(path, b"1")
    with pytest.raises(ValueError, match="invalid path"):
        fs.open(path, "wb")
    assert not fs.exists(path)
    with pytest.raises(FileNotFoundError):
        fs.cat_file(path)
    with pytest.raises(FileNotFoundError):
        fs.rm(path)


def test_a_json_store_rejects_bytes_that_are_not_json(shared_backend):
    d = shared_backend.open("json")
    d["Eliza", "year"] = 1965
    fs = view(shared_backend, "json")
    assert fs.cat_file("Eliza/year.json") == b"1965"
    with pytest.raises(FormatError, match=r"'Eliza/year\.json'"):
        fs.pipe_file("Eliza/year.json", b"{not json")
    with (
        pytest.raises(FormatError, match=r"'Eliza/year\.json'"),
        fs.open("Eliza/year.json", "wb") as f,
    ):
        f.write(b"nineteen")
    fs.pipe_file("Eliza/notes.csv", b"{not json")  # no key's file: a plain file, as given
    assert fs.cat_file("Eliza/notes.csv") == b"{not json"
    assert d["Eliza", "year"] == 1965 and len(d) == 1
    fs.pipe_file("Eliza/month.json", b"[1, 2]")
    assert d["Eliza", "month"] == [1, 2]


def test_a_txt_store_rejects_bytes_that_are_not_utf8(shared_backend):
    fs = view(shared_backend, "txt")
    fs.pipe_file("doc.txt", "héllo".encode())
    with pytest.raises(FormatError, match=r"'doc\.txt'"):
        fs.pipe_file("doc.txt", b"\xff\xfe")
    assert shared_backend.open("txt")["doc"] == "héllo"


def test_a_view_without_a_format_stores_every_file_as_given(shared_backend):
    fs = view(shared_backend, None)
    for path, data in [("t/b.json", b"{"), ("t/c.txt", b"\xff"), ("t/v.pkl", b"junk")]:
        fs.pipe_file(path, data)
        assert fs.cat_file(path) == data
    fs.pipe_file("t/w.pkl", pickle.dumps({"k": 1}))
    assert fs.find("t") == ["t/b.json", "t/c.txt", "t/v.pkl", "t/w.pkl"]
    assert shared_backend.open("pkl").get(("t", "w")) == {"k": 1}
    # a json view of the same folder checks its keys, and shows the other files too
    with pytest.raises(FormatError, match="t/b.json"):
        view(shared_backend, "json").pipe_file("t/b.json", b"{")
    assert view(shared_backend, "json").find("t") == fs.find("t")


def test_a_dict_in_hand_is_viewed_with_its_digests_hidden(tmp_path):
    from persidict import FileDirDict

    d = FileDirDict(tmp_path / "s", "json", digest_len=4)
    d["Mixed", "Case"] = {"v": 1}
    fs = PersiDictFileSystem(dict=d)
    assert fs.find("") == ["Mixed/Case.json"]
    fs.pipe_file("Mixed/New.json", b"2")
    assert d["Mixed", "New"] == 2
    stored_folder = d.layout.to_dir(("Mixed",))
    assert stored_folder != "Mixed" and (tmp_path / "s" / stored_folder).is_dir()


def test_cat_and_pipe_of_many_paths_are_batches(fs):
    fs.pipe({f"many/{i}": str(i).encode() for i in range(20)})
    got = fs.cat([f"many/{i}" for i in range(20)])
    assert got == {f"many/{i}": str(i).encode() for i in range(20)}
    assert fs.cat("many", recursive=True) == got
    with pytest.raises(FileNotFoundError):
        fs.cat(["many/1", "many/none"])
    assert fs.cat(["many/1", "many/none"], on_error="omit") == {"many/1": b"1"}
    returned = fs.cat(["many/1", "many/none"], on_error="return")
    assert isinstance(returned["many/none"], FileNotFoundError)


def test_pipe_of_many_checks_every_name_before_writing(fs):
    with pytest.raises(ValueError, match="invalid path"):
        fs.pipe({"ok/1": b"1", "bad/../2": b"2"})
    assert not fs.exists("ok/1")
    with pytest.raises(FileExistsError, match="'a/x'"):
        fs.pipe({"a/x": b"again", "fresh": b"f"}, mode="create")
    assert fs.cat_file("a/x") == b"a/x"

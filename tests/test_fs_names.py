"""Any name a Linux disk accepts is a file of the view, stored under that literal name."""

from __future__ import annotations

import os
import pickle
import uuid

import pandas as pd
import pytest

from persidict import FileDirDict, MutationPolicyError
from persidict_fs import PersiDictFileSystem
from tests.conftest import BUCKET, Backend

ODD_NAMES = [
    "New York/city=a:b/part 0.txt",
    "g++/c#/x@y%20z",
    "é/ü ñ/日本語.md",
    "a/#hash",
    "a/.hidden",
    "a/...",
    "a/" + "x" * 255,
    "a/" + "é" * 127,  # 254 bytes in UTF-8
    "sp ace/trailing ",
    "q/what?[1]*",
]


def raw_view(backend: Backend) -> PersiDictFileSystem:
    return PersiDictFileSystem(fo=backend.url, target_options=backend.options)


def test_any_linux_name_is_created_listed_read_renamed_and_removed(backend):
    fs = raw_view(backend)
    for i, name in enumerate(ODD_NAMES):
        fs.pipe_file(name, str(i).encode())
    with fs.open("sp ace/opened with open", "wb") as f:
        f.write(b"w")
    assert fs.find("") == sorted([*ODD_NAMES, "sp ace/opened with open"])
    assert "New York" in fs.ls("", detail=False)
    for i, name in enumerate(ODD_NAMES):
        assert fs.cat_file(name) == str(i).encode()
        assert fs.info(name)["size"] == len(str(i))
    fs.mv("New York/city=a:b/part 0.txt", "New York/city=a:b/part 1.txt")
    assert fs.cat_file("New York/city=a:b/part 1.txt") == b"0"
    assert not fs.exists("New York/city=a:b/part 0.txt")
    fs.rm(["q/what?[1]*", "a/#hash"])  # a list names files literally, never as globs
    assert not fs.exists("q/what?[1]*") and fs.exists("a/.hidden")
    fs.rm("é", recursive=True)
    assert not fs.exists("é/ü ñ/日本語.md")


def test_names_are_stored_literally_so_the_folder_looks_like_the_view(tmp_path):
    fs = PersiDictFileSystem(fo=str(tmp_path / "s"))
    fs.pipe_file("New York/a b.txt", b"1")
    fs.pipe_file("g++/c#", b"2")
    assert sorted(os.listdir(tmp_path / "s")) == ["New York", "g++"]
    assert (tmp_path / "s" / "New York" / "a b.txt").read_bytes() == b"1"
    assert (tmp_path / "s" / "g++" / "c#").read_bytes() == b"2"


def test_files_other_tools_stored_are_browsable(backend):
    store = backend.open("bytes").store
    store.write("Reports 2024/Q1 (final).csv", b"q1")
    store.write("Reports 2024/naïve+plus.txt", b"n")
    fs = raw_view(backend)
    assert fs.ls("Reports 2024", detail=False) == [
        "Reports 2024/Q1 (final).csv",
        "Reports 2024/naïve+plus.txt",
    ]
    assert fs.cat_file("Reports 2024/naïve+plus.txt") == b"n"


def test_keys_map_to_keys_and_plain_files_are_skipped_by_the_dict(backend):
    d = backend.open("json")
    d["Eliza", "year"] = 1965
    fs = PersiDictFileSystem(dict=d)
    fs.pipe_file("Eliza/month.json", b"3")
    fs.pipe_file("Eliza/notes 1.json", b"not checked: no key has this name")
    fs.pipe_file("New York/pop.json", b"8")  # a folder that is no key part: a plain file
    assert d["Eliza", "month"] == 3
    assert sorted(d) == [("Eliza", "month"), ("Eliza", "year")]
    assert fs.find("") == [
        "Eliza/month.json",
        "Eliza/notes 1.json",
        "Eliza/year.json",
        "New York/pop.json",
    ]


def test_plain_files_go_to_the_store_keys_keep_the_dicts_rules(tmp_path):
    d = FileDirDict(tmp_path, append_only=True, base_class_for_values=str)
    d["k"] = "first"
    fs = PersiDictFileSystem(dict=d)
    fs.pipe_file("notes about k.txt", b"draft")
    fs.pipe_file("notes about k.txt", b"final")  # not a key: overwritten as on a disk
    fs.rm_file("notes about k.txt")
    with pytest.raises(MutationPolicyError):
        fs.pipe_file("k.pkl", pickle.dumps("second"))
    with pytest.raises(MutationPolicyError):
        fs.rm_file("k.pkl")
    assert d["k"] == "first"


def test_a_digest_dict_keeps_plain_names_literal_and_key_folders_digested(tmp_path):
    d = FileDirDict(tmp_path, "json", digest_len=4)
    fs = PersiDictFileSystem(dict=d)
    fs.pipe_file("Mixed/Case.json", b"1")
    fs.pipe_file("Mixed/a note.txt", b"n")
    fs.pipe_file("Two Words/x.json", b"2")
    assert d["Mixed", "Case"] == 1 and len(d) == 1
    assert fs.find("") == ["Mixed/Case.json", "Mixed/a note.txt", "Two Words/x.json"]
    assert (tmp_path / d.layout.to_dir(("Mixed",)) / "a note.txt").read_bytes() == b"n"
    assert (tmp_path / "Two Words" / "x.json").read_bytes() == b"2"


@pytest.fixture(params=["local", "s3"])
def inner(request, tmp_path):
    """(inner URL, storage options reaching it) for a dataset on each shared backend."""
    if request.param == "local":
        return f"file://{tmp_path}/store", {}
    options = request.getfixturevalue("s3_options")
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}", {"s3": dict(options)}


CITIES = pd.DataFrame({"city": ["New York", "a:b", "New York", "São Paulo"], "n": [1, 2, 3, 4]})


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(city=frame["city"].astype(str))[["city", "n"]]
    return frame.sort_values("n").reset_index(drop=True)


def test_pandas_partition_cols_with_spaces_and_colons(inner):
    url, options = inner
    target = f"persidict://cities::{url}"
    CITIES.to_parquet(target, partition_cols=["city"], storage_options=options)
    back = pd.read_parquet(target, storage_options=options)
    pd.testing.assert_frame_equal(_sorted(back), _sorted(CITIES))


def test_dask_partition_on_with_spaces_and_colons(inner):
    import dask.dataframe as dd
    url, options = inner
    target = f"persidict://cities::{url}"
    dd.from_pandas(CITIES, npartitions=2).to_parquet(
        target, partition_on=["city"], storage_options=options, write_index=False
    )
    back = dd.read_parquet(target, storage_options=options).compute()
    pd.testing.assert_frame_equal(_sorted(back), _sorted(CITIES))


def test_a_view_of_a_sub_dict_sees_the_store_from_its_folder(tmp_path):
    d = FileDirDict(tmp_path, "json")
    d["users", "ada"] = 1
    d["other"] = 2
    fs = PersiDictFileSystem(dict=d.get_subdict("users"))
    assert fs.find("") == ["ada.json"]
    fs.pipe_file("eliza.json", b"3")
    fs.pipe_file("read me.txt", b"plain")
    assert d["users", "eliza"] == 3
    assert (tmp_path / "users" / "read me.txt").read_bytes() == b"plain"
    assert fs.find("") == ["ada.json", "eliza.json", "read me.txt"]
    fs.rm(["ada.json", "read me.txt"])
    assert sorted(d) == [("other",), ("users", "eliza")]

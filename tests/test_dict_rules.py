"""The dict's rules hold on every way in: d[k] = v, batches, conditional operations, the view."""

from __future__ import annotations

import operator
import os
import pickle

import pytest

from persidict import (
    ANY_ETAG,
    ETAG_IS_THE_SAME,
    ITEM_NOT_AVAILABLE,
    FileDirDict,
    FormatError,
    MutationPolicyError,
    WriteOnceDict,
)
from persidict.dicts.stored import STREAM_MIN
from persidict.errors import KeyClashError
from persidict_fs import PersiDictFileSystem


@pytest.fixture
def write_once(backend):
    return WriteOnceDict(wrapped_dict=backend.open(append_only=True), p_consistency_checks=1)


def test_view_ignores_a_repeated_identical_write_to_a_write_once_dict(write_once):
    fs = PersiDictFileSystem(dict=write_once)
    fs.pipe_file("k.pkl", pickle.dumps("first"))
    fs.pipe_file("k.pkl", pickle.dumps("first"))
    assert write_once["k"] == "first"
    assert write_once.consistency_checks_passed == 1


def test_view_refuses_a_different_write_to_a_write_once_dict_naming_the_key(write_once):
    fs = PersiDictFileSystem(dict=write_once)
    fs.pipe_file("k.pkl", pickle.dumps("first"))
    with pytest.raises(MutationPolicyError, match=r"write-once: key \('k',\)") as info:
        fs.pipe_file("k.pkl", pickle.dumps("second"))
    assert "k.pkl" not in str(info.value)
    assert write_once["k"] == "first"


def test_write_once_batch_ignores_repeats_and_writes_new_keys(write_once):
    write_once["a"] = 1
    write_once.setitems({"a": 1, "b": 2})
    assert dict(write_once) == {("a",): 1, ("b",): 2}
    with pytest.raises(MutationPolicyError, match="write-once"):
        write_once.setitems({"b": 3})


def test_write_once_conditional_insert_keeps_the_first_value(write_once):
    first = write_once.setdefault_if(
        "k", default_value=1, condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE
    )
    assert first.value_was_mutated
    again = write_once.setdefault_if(
        "k", default_value=2, condition=ANY_ETAG, expected_etag=ITEM_NOT_AVAILABLE
    )
    assert again.actual_etag == first.resulting_etag and write_once["k"] == 1
    with pytest.raises(MutationPolicyError):  # as in persidict 0.309.0: never a replace
        write_once.set_item_if("k", value=1, condition=ANY_ETAG, expected_etag=ITEM_NOT_AVAILABLE)
    assert write_once["k"] == 1


def test_write_once_refuses_deletes_on_every_way_in(write_once):
    write_once["k"] = 1
    fs = PersiDictFileSystem(dict=write_once)
    for forbidden in (
        lambda: write_once.__delitem__("k"),
        lambda: write_once.delitems(["k"]),
        lambda: write_once.discard_if("k", condition=ANY_ETAG, expected_etag=ITEM_NOT_AVAILABLE),
        lambda: fs.rm_file("k.pkl"),
    ):
        with pytest.raises(MutationPolicyError):
            forbidden()
    assert write_once["k"] == 1


class _PlantsMarker:
    """A pickle that, when loaded, runs a shell command creating ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("base_class", [int, str, object])
def test_view_checks_a_pickle_against_the_base_class_without_running_it(
    backend, tmp_path, base_class
):
    marker = tmp_path / "planted"
    d = backend.open(base_class_for_values=base_class)
    fs = PersiDictFileSystem(dict=d)
    evil = pickle.dumps(_PlantsMarker(str(marker)))
    with pytest.raises(FormatError, match=r"what (posix|os)\.system returns: it cannot be judged"):
        fs.pipe_file("k.pkl", evil)
    with pytest.raises(FormatError), fs.open("k.pkl", "wb") as f:
        f.write(evil)
    assert not marker.exists()
    assert "k" not in d


def test_view_accepts_plain_data_pickles_of_the_base_class(backend):
    import numpy as np
    import pandas as pd
    frames = backend.open(base_class_for_values=pd.DataFrame)
    fs = PersiDictFileSystem(dict=frames)
    frame = pd.DataFrame({"t": pd.date_range("2020", periods=2, tz="UTC"), "x": [1.5, 2.5]})
    fs.pipe_file("f.pkl", pickle.dumps(frame, protocol=5))
    assert frames["f"].equals(frame)
    with pytest.raises(TypeError, match="not an instance of DataFrame"):
        fs.pipe_file("a.pkl", pickle.dumps(np.arange(3)))
    assert "a" not in frames


def test_get_of_a_key_that_cannot_exist_gives_the_default(d):
    too_long = tuple(f"{i:02d}" + "p" * 198 for i in range(30))
    assert d.get(too_long, "default") == "default"
    assert too_long not in d
    with pytest.raises(KeyError):
        d[too_long]


def test_a_file_key_and_a_folder_key_of_one_name_clash_naming_both(tmp_path):
    d = FileDirDict(tmp_path)
    d["x"] = 1
    with pytest.raises(KeyClashError, match=r"\('x\.pkl', 'y'\).*\('x',\)") as info:
        d["x.pkl", "y"] = 2
    assert isinstance(info.value, OSError) and isinstance(info.value, ValueError)
    assert d.get(("x.pkl", "y")) is None and ("x.pkl", "y") not in d
    with pytest.raises(KeyClashError, match=r"\('x\.pkl', 'y'\).*\('x',\)"):
        d.setitems({("x.pkl", "y"): 2})
    assert dict(d) == {("x",): 1}


def test_a_folder_key_in_the_way_of_a_file_key_is_named(tmp_path):
    d = FileDirDict(tmp_path)
    d["x.pkl", "y"] = 2
    with pytest.raises(KeyClashError, match=r"\('x',\).*\('x\.pkl', 'y'\)"):
        d["x"] = 1
    assert d.get("x") is None and dict(d) == {("x.pkl", "y"): 2}


def test_equals_a_plain_dict_with_str_keys(d):
    d["b"] = 2
    d["c", "d"] = 3
    assert d == {"b": 2, ("c", "d"): 3}
    assert operator.eq({"b": 2, ("c", "d"): 3}, d)  # the plain dict on the left
    assert d != {"b": 3, ("c", "d"): 3}
    assert d != {"b": 2, ("b",): 2, ("c", "d"): 3}  # two keys for one: not the same items
    assert d != {"b c": 2}


class _Big:
    """Says it is big, so it streams; ``fail`` makes pickling it fail midway."""

    def __init__(self, fail: bool = False) -> None:
        self.blob = b"x" * (STREAM_MIN + 1)
        self.fail = fail

    def __sizeof__(self) -> int:
        return len(self.blob)

    def __reduce__(self):
        if self.fail:
            raise TypeError("cannot pickle this one")
        return (bytes, (self.blob,))


def test_a_big_value_streams_into_the_store_and_back(d):
    d["big"] = _Big()
    assert d["big"] == b"x" * (STREAM_MIN + 1)
    assert d.setdefault("other", _Big()) is not None and len(d["other"]) == STREAM_MIN + 1


def test_a_big_value_that_fails_to_encode_writes_nothing(d):
    d["k"] = "old"
    with pytest.raises(FormatError, match="cannot pickle this one"):
        d["k"] = _Big(fail=True)
    with pytest.raises(FormatError):
        d["new"] = _Big(fail=True)
    assert dict(d) == {("k",): "old"}
    assert sorted(d.store.iter_paths()) == ["k.pkl"]  # no temp file left

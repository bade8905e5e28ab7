"""The filesystem view keeps the dict's rules: append-only, base_class_for_values."""

import pickle

import pytest

from persidict import FileDirDict, MutationPolicyError
from persidict_fs import PersiDictFileSystem


@pytest.fixture
def append_only(tmp_path):
    d = FileDirDict(tmp_path, append_only=True, base_class_for_values=str)
    d["k"] = "first"
    return d, PersiDictFileSystem(dict=d)


def test_view_cannot_overwrite_an_append_only_value(append_only):
    d, fs = append_only
    with pytest.raises(MutationPolicyError, match="overwrite"):
        fs.pipe_file("k.pkl", pickle.dumps("second"))
    assert d["k"] == "first"


def test_view_creates_new_keys_in_an_append_only_dict(append_only):
    d, fs = append_only
    fs.pipe_file("new.pkl", pickle.dumps("fresh"))
    assert d["new"] == "fresh"


def test_view_cannot_delete_from_an_append_only_dict(append_only):
    d, fs = append_only
    with pytest.raises(MutationPolicyError, match="delete"):
        fs.rm_file("k.pkl")
    with pytest.raises(MutationPolicyError, match="delete"):
        fs.rm("", recursive=True)
    assert d["k"] == "first"


def test_view_checks_base_class_for_values(append_only):
    d, fs = append_only
    with pytest.raises(TypeError, match="not an instance of str"):
        fs.pipe_file("n.pkl", pickle.dumps(12))
    assert "n" not in d


def test_views_of_two_dicts_over_one_folder_never_share_a_cached_view(tmp_path):
    loose = FileDirDict(tmp_path)
    loose["k"] = "v"
    loose_fs = PersiDictFileSystem(dict=loose)
    strict = FileDirDict(tmp_path, append_only=True)
    strict_fs = PersiDictFileSystem(dict=strict)
    assert strict_fs is not loose_fs and strict_fs != loose_fs
    assert strict_fs.dict is strict
    with pytest.raises(MutationPolicyError, match="delete"):
        strict_fs.rm_file("k.pkl")
    assert loose["k"] == "v"


def test_views_by_url_still_come_from_fsspecs_cache(tmp_path):
    first = PersiDictFileSystem(fo=str(tmp_path), serialization_format="json")
    assert PersiDictFileSystem(fo=str(tmp_path), serialization_format="json") is first
    assert PersiDictFileSystem(fo=str(tmp_path), serialization_format="pkl") is not first

"""HTTP requests the view sends to S3, counted with a botocore event hook."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from persidict import open_dict
from persidict.testing import count_s3_requests as s3_requests
from persidict_fs import PersiDictFileSystem
from tests.conftest import BUCKET

N_KEYS = 1010  # two pages of a 1000-key listing


@pytest.fixture(scope="module")
def big_store(s3_options):
    """A json store on S3 with N_KEYS keys in 12 folders."""
    url = f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"
    d = open_dict(url, "json", **s3_options)
    d.setitems({(f"dir{i % 12}", f"sub{i // 12 % 3}", f"k{i}"): i for i in range(N_KEYS)})
    return d


@pytest.fixture
def fs(big_store):
    return PersiDictFileSystem(dict=big_store, skip_instance_cache=True)


def test_reading_a_value_costs_what_the_dict_pays_one_get(fs, big_store):
    with s3_requests(fs.store) as via_dict:
        assert big_store["dir5", "sub0", "k5"] == 5
    with s3_requests(fs.store) as via_cat:
        assert fs.cat_file("dir5/sub0/k5.json") == b"5"
    with s3_requests(fs.store) as via_open, fs.open("dir5/sub0/k5.json", "rb") as f:
        assert f.read() == b"5"
    with s3_requests(fs.store) as via_range:
        assert fs.cat_file("dir7/sub0/k7.json", start=0, end=1) == b"7"
    assert via_dict == via_cat == via_open == via_range == Counter(GetObject=1)


def test_find_over_the_store_is_one_list_per_1000_keys(fs):
    with s3_requests(fs.store) as sent:
        found = fs.find("")
    assert len(found) == N_KEYS
    assert sent == Counter(ListObjectsV2=2)


def test_walk_and_recursive_glob_list_only(fs):
    with s3_requests(fs.store) as sent:
        walked = list(fs.walk(""))
        matched = fs.glob("**/k1?.json")
    assert sum(len(files) for _, _, files in walked) == N_KEYS
    assert len(walked) == 1 + 12 + 12 * 3
    assert len(matched) == 10
    assert sent == Counter(ListObjectsV2=4)


def test_ls_isdir_are_one_list_and_info_isfile_one_head(fs):
    with s3_requests(fs.store) as sent:
        assert len(fs.ls("dir3")) == 3
        assert fs.isdir("dir3/sub1") and not fs.isdir("dir3/sub1/k15.json")
        assert fs.info("dir3/sub0/k3.json")["size"] == 1
        assert fs.isfile("dir3/sub1/k15.json")
        assert not fs.isfile("dir3/sub1")  # a plain file may have any name: a HEAD too
    assert sent == Counter(ListObjectsV2=3, HeadObject=3)


def test_a_write_is_one_put(fs):
    with s3_requests(fs.store) as sent:
        fs.pipe_file("new/one.json", b"1")
        with fs.open("new/two.json", "wb") as f:
            f.write(b"2")
        fs.pipe_file("new/three.json", b"3", mode="create")
    assert sent == Counter(PutObject=3)


def test_rm_of_a_folder_is_a_head_per_file_and_one_delete_objects(s3_options):
    d = open_dict(f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}", "json", **s3_options)
    d.setitems({("gone", f"k{i}"): i for i in range(30)} | {("kept", "k"): 0})
    fs = PersiDictFileSystem(dict=d, skip_instance_cache=True)
    with s3_requests(fs.store) as sent:
        fs.rm("gone", recursive=True)
    # listing and rmdir's emptiness check, a HEAD per file, one DeleteObjects, the marker
    assert sent == Counter(ListObjectsV2=2, HeadObject=30, DeleteObjects=1, DeleteObject=1)
    assert list(d) == [("kept", "k")]

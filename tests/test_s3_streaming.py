"""S3 big values and file semantics: callable payloads, multipart commits, ranged reads of
one version, modification times, empty folders (over a real moto server)."""

from __future__ import annotations

import errno
import os
import uuid

import pytest

from persidict.storage.base import PreconditionFailed
from persidict.storage.s3 import S3Store
from persidict.storage.s3_commits import MULTIPART_ABOVE
from persidict.testing import count_s3_requests
from tests.conftest import BUCKET

BIG = MULTIPART_ABOVE + (1 << 20)


@pytest.fixture
def store(s3_options):
    return S3Store(BUCKET, f"stream-{uuid.uuid4().hex[:10]}", **s3_options)


def writer(data: bytes):
    def write(f):
        for i in range(0, len(data), 1 << 20):
            f.write(data[i : i + (1 << 20)])

    return write


def test_a_callable_payload_is_stored(store):
    store.write("small", writer(b"abc"))
    assert store.read("small") == b"abc"


def test_a_failing_callable_stores_nothing(store):
    def fail(f):
        f.write(b"partial")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        store.write("k", fail)
    assert not store.exists("k")


def test_a_big_value_is_one_multipart_commit_and_still_exclusive(store):
    data = os.urandom(BIG)
    with count_s3_requests(store) as sent:
        etag = store.create("big", writer(data))
    assert etag and sent["CompleteMultipartUpload"] == 1 and "PutObject" not in sent
    assert store.create("big", writer(data)) is None  # If-None-Match on the commit
    assert store.read("big") == data
    with pytest.raises(PreconditionFailed):
        store.write_if("big", writer(data[::-1]), "0" * 32)
    new = store.write_if("big", writer(data[::-1]), etag)
    assert store.info("big").etag == new and store.read("big") == data[::-1]


def test_open_read_of_a_small_value_is_one_get(store):
    store.write("k", b"hello")
    with count_s3_requests(store) as sent, store.open_read("k") as f:
        assert f.read() == b"hello"
    assert sent == {"GetObject": 1}


def test_open_read_seeks_by_ranges_of_one_version(store):
    data = os.urandom(12 << 20)
    store.write("k", data)
    with store.open_read("k") as f:
        f.seek(10 << 20)
        assert f.read(100) == data[10 << 20 : (10 << 20) + 100]
        f.seek(5)
        assert f.read() == data[5:]


def test_a_replace_during_a_read_is_an_error_not_a_mix(store):
    store.write("k", os.urandom(12 << 20))
    with store.open_read("k") as f:
        f.read(10)
        store.write("k", os.urandom(12 << 20))
        f.seek(9 << 20)
        with pytest.raises(OSError, match=r"s3://.*replaced while being read"):
            f.read(100)


def test_read_range_pinned_to_an_etag(store):
    etag = store.write("k", b"0123456789")
    assert store.read_range("k", 2, 5, etag=etag) == b"234"
    with pytest.raises(PreconditionFailed):
        store.read_range("k", 2, 5, etag="0" * 32)


def test_set_mtime_is_kept_and_reported(store):
    store.write("k", b"v")
    store.set_mtime("k", 1234567890.5)
    assert store.info("k").mtime == 1234567890.5
    assert store.read("k") == b"v"


def test_an_empty_folder_persists_and_is_never_a_file(store):
    store.make_folder("a/empty")
    files, dirs = store.listdir("a")
    assert files == [] and dirs == ["empty"]
    assert list(store.walk("")) == []
    store.write("a/empty/f", b"x")
    with pytest.raises(OSError) as caught:
        store.remove_folder("a/empty")
    assert caught.value.errno == errno.ENOTEMPTY
    store.delete("a/empty/f")
    store.remove_folder("a/empty")
    assert store.listdir("a") == ([], [])

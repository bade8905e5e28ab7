"""The streaming, time and folder parts of the byte-store contract, on every store.

Local-process stores, GCS against fake-gcs-server and Azure against azurite.
"""

from __future__ import annotations

import errno
import io
import os
import uuid

import fsspec
import pytest

from persidict.storage.base import PreconditionFailed, is_temp_name
from persidict.storage.cached import CachedStore
from persidict.storage.fsspec_store import FsspecStore
from persidict.storage.local import LocalStore
from persidict.storage.memory import MemoryStore
from tests.conftest import BUCKET
from tests.workers import cas_increment

STORES = ["local", "memory", "fsspec-memory", "cached", "gcs", "azure"]


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    kind = request.param
    if kind == "local":
        return LocalStore(tmp_path / "root")
    if kind == "memory":
        return MemoryStore()
    if kind == "fsspec-memory":
        return FsspecStore(fsspec.filesystem("memory"), f"/contract-{id(request)}")
    if kind == "gcs":
        from persidict.storage.gcs import GCSStore

        return GCSStore(
            BUCKET, f"contract-{uuid.uuid4().hex[:12]}", **request.getfixturevalue("gcs_options")
        )
    return CachedStore(LocalStore(tmp_path / "main"), MemoryStore(), revalidate=True)


def writer(data: bytes):
    def write(f) -> None:
        f.write(data[:3])
        f.write(data[3:])

    return write


class Boom(Exception):
    pass


def failing_writer(f) -> None:
    f.write(b"half a value")
    raise Boom


def test_a_callable_payload_writes_into_the_store(store):
    etag = store.write("a/k", writer(b"streamed bytes"))
    assert store.read_with_etag("a/k") == (b"streamed bytes", etag)
    assert store.create("a/n", writer(b"created")) is not None
    assert store.create("a/n", writer(b"again")) is None
    store.write_if("a/k", writer(b"swapped"), etag)
    assert (store.read("a/k"), store.read("a/n")) == (b"swapped", b"created")


@pytest.mark.parametrize("op", ["write", "create", "write_if"])
def test_a_raising_callable_stores_nothing(store, op):
    store.write("old", b"old value")
    etag = store.info("old").etag
    with pytest.raises(Boom):
        if op == "write":
            store.write("old", failing_writer)
        elif op == "create":
            store.create("new/k", failing_writer)
        else:
            store.write_if("old", failing_writer, etag)
    assert store.read("old") == b"old value"
    assert [e.path for e in store.walk()] == ["old"]


def test_open_read_is_one_seekable_version(store):
    store.write("k", b"0123456789")
    with store.open_read("k") as f:
        store.write("k", b"replaced")
        assert f.seekable()
        f.seek(4)
        assert f.read(3) == b"456"
        f.seek(0)
        assert f.read() == b"0123456789"
    with pytest.raises(FileNotFoundError):
        store.open_read("absent")


def test_read_range_checks_the_etag(store):
    etag = store.write("k", b"0123456789")
    assert store.read_range("k", 2, 5) == b"234"
    assert store.read_range("k", 2, 5, etag=etag) == b"234"
    store.write("k", b"9876543210")
    with pytest.raises(PreconditionFailed):
        store.read_range("k", 2, 5, etag=etag)


def test_set_mtime(store):
    if isinstance(store, FsspecStore) or store.url.startswith(("gs://", "az://")):
        # fsspec has no call that sets a file's time, nor have our GCS and Azure stores yet:
        # a typed refusal, the file unchanged.
        store.write("a/k", b"v")
        before = store.info("a/k")
        with pytest.raises(io.UnsupportedOperation):
            store.set_mtime("a/k", 1_000_000_000.5)
        assert store.info("a/k") == before
        return
    store.write("a/k", b"v")
    store.set_mtime("a/k", 1_000_000_000.5)
    assert store.info("a/k").mtime == pytest.approx(1_000_000_000.5)
    assert store.read("a/k") == b"v"


@pytest.mark.parametrize(
    "store", [s for s in STORES if s not in ("fsspec-memory", "gcs", "azure")], indirect=True
)
def test_empty_folders_persist_and_are_no_files(store):
    # fsspec's memory filesystem keeps no empty folders of its own, nor do GCS and Azure (yet).
    store.make_folder("empty/inner")
    store.make_folder("empty/inner")  # already there: nothing to do
    assert store.listdir("") == ([], ["empty"])
    assert store.listdir("empty") == ([], ["inner"])
    assert list(store.walk()) == []
    store.write("empty/inner/k", b"v")
    with pytest.raises(OSError) as failed:
        store.remove_folder("empty/inner")
    assert failed.value.errno == errno.ENOTEMPTY
    store.delete("empty/inner/k")
    store.remove_folder("empty/inner")
    assert store.listdir("empty") == ([], [])
    with pytest.raises(FileExistsError):
        store.write("f", b"v") and store.make_folder("f")


def test_store_names_are_recognised_precisely():
    assert is_temp_name(".#k.pkl.0a1b2c3d4e5f-7")
    assert is_temp_name(".#lock")
    for user_name in ("a#b", "#notes#", "k.pkl", ".hidden", "x.#y"):
        assert not is_temp_name(user_name)


def test_a_user_file_with_a_hash_in_its_name_is_listed(tmp_path):
    store = LocalStore(tmp_path)
    store.write("a#b", b"v")
    store.write("d/#c#", b"w")
    assert sorted(store.iter_paths()) == ["a#b", "d/#c#"]
    assert [e.path for e in store.listdir("")[0]] == ["a#b"]


def test_a_streamed_write_to_a_cached_store_is_read_back_fresh(tmp_path):
    store = CachedStore(LocalStore(tmp_path), MemoryStore(), revalidate=False)
    store.write("k", b"first")
    assert store.read("k") == b"first"
    store.write("k", writer(b"second"))
    assert store.read("k") == b"second"
    assert io.BytesIO(store.open_read("k").read()).read() == b"second"


def test_a_raising_callable_leaves_no_temp_file_or_new_folder_on_disk(tmp_path):
    store = LocalStore(tmp_path)
    store.write("k", b"v")
    for op in (store.write, store.create):
        with pytest.raises(Boom):
            op("k", failing_writer)
        with pytest.raises(Boom):
            op("new/deeper/k", failing_writer)
    assert sorted(os.listdir(tmp_path)) == ["k"]


def test_batches_keep_order_and_report_per_path(store):
    items = {"a/1": b"a1", "b/1": b"b1", "a/2": b"a2", "top": b"t"}
    etags = store.write_many(items)
    assert all(isinstance(e, str) for e in etags)
    got = store.read_many(["a/2", "absent/x", "top", "a/1", "a/none"])
    assert got[0] == b"a2" and got[2] == b"t" and got[3] == b"a1"
    assert isinstance(got[1], FileNotFoundError) and isinstance(got[4], FileNotFoundError)
    created = store.create_many({"a/1": b"again", "a/3": b"a3", "c/1": b"c1"})
    assert created[0] is None and all(isinstance(e, str) for e in created[1:])
    assert store.read_many(["a/1", "a/3", "c/1"]) == [b"a1", b"a3", b"c1"]
    deleted = store.delete_many(["a/1", "a/none", "c/1", "absent/x"])
    assert deleted[0] is None and deleted[2] is None
    assert isinstance(deleted[1], FileNotFoundError) and isinstance(deleted[3], FileNotFoundError)
    assert store.delete_many(["a/2", "a/none"], missing_ok=True) == [None, None]
    assert sorted(store.iter_paths()) == ["a/3", "b/1", "top"]


def test_batch_writes_of_big_values_and_streams(store):
    big = {f"big/{i}": os.urandom((1 << 20) + i) for i in range(3)}
    assert all(isinstance(e, str) for e in store.write_many(big))
    assert store.read_many(list(big)) == list(big.values())
    streamed = store.write_many({"s/1": writer(b"one"), "s/2": writer(b"two")})
    assert all(isinstance(e, str) for e in streamed)
    assert store.read_many(["s/1", "s/2"]) == [b"one", b"two"]


def test_read_or_open_gives_bytes_up_to_the_limit_and_a_file_beyond(store):
    small, big = b"s" * 100, os.urandom(200_000)
    store.write("small", small)
    store.write("big", big)
    assert bytes(store.read_or_open("small", 1 << 20)) == small
    for limit in (10, 100_000):
        got = store.read_or_open("big", limit)
        if isinstance(got, (bytes, bytearray, memoryview)):  # the default: always bytes
            assert not isinstance(store, LocalStore)
            assert got == big
        else:
            with got:
                assert got.read() == big
    with pytest.raises(FileNotFoundError):
        store.read_or_open("absent", 10)


def test_compare_and_swap_is_exact_between_threads(store):
    import threading

    store.write("counter", b"0")
    threads = [
        threading.Thread(target=cas_increment, args=(store, "counter", 50)) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.read("counter") == b"200"


def test_fsspec_info_downloads_no_value_and_etags_change_on_equal_rewrites(monkeypatch):
    store = FsspecStore(fsspec.filesystem("memory"), "/info-no-download")
    etag = store.write("k", b"same bytes")
    monkeypatch.setattr(store.fs, "cat_file", lambda *a, **kw: pytest.fail("downloaded"))
    assert store.info("k").etag == etag
    monkeypatch.undo()
    assert store.write("k", b"same bytes") != etag

"""Big values on GCS and Azure: streamed from a spooled file, conditions kept, memory bounded.

A value written as a stream (a callable payload, as the dicts and the mount
write big values) is spooled to a temp file and uploaded from it, never
held in memory whole; on Azure beyond 16 MiB as blocks committed at once.
"""

from __future__ import annotations

import os
import tracemalloc
import uuid

import pytest

from persidict.fault_proxy import FaultProxy
from persidict.storage.azure import AzureStore
from persidict.storage.base import PreconditionFailed
from persidict.storage.gcs import GCSStore
from tests.conftest import BUCKET

BIG = 20 << 20


def streamed(data: bytes):
    def write(f) -> None:
        for i in range(0, len(data), 1 << 20):
            f.write(data[i : i + (1 << 20)])

    return write


@pytest.fixture(params=["gcs", "azure"])
def store(request):
    options = request.getfixturevalue(f"{request.param}_options")
    cls = GCSStore if request.param == "gcs" else AzureStore
    return cls(BUCKET, f"big-{uuid.uuid4().hex[:12]}", **options)


def test_a_big_streamed_value_is_created_and_swapped_under_its_conditions(store):
    first, second = os.urandom(BIG), os.urandom(BIG)
    etag = store.create("k", streamed(first))
    assert etag is not None and store.read_with_etag("k") == (first, etag)
    assert store.create("k", streamed(second)) is None
    new = store.write_if("k", streamed(second), etag)
    with pytest.raises(PreconditionFailed):
        store.write_if("k", streamed(first), etag)
    assert store.read_with_etag("k") == (second, new)


def test_a_big_streamed_write_never_holds_the_value_in_memory(store):
    store.write("warm", b"x")  # the client and its session exist before measuring
    chunk = os.urandom(1 << 20)

    def write(f) -> None:
        for _ in range(32):  # 32 MiB, made a MiB at a time
            f.write(chunk)

    tracemalloc.start()
    try:
        store.write("k", write)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak >> 20} MiB for a 32 MiB value"
    assert store.info("k").size == 32 << 20


def test_a_big_value_goes_to_azure_as_blocks_committed_at_once(azure_options):
    upstream, _, account = azure_options["endpoint_url"].rpartition("/")
    with FaultProxy(upstream) as proxy:
        options = dict(azure_options, endpoint_url=f"{proxy.url}/{account}")
        store = AzureStore(BUCKET, f"blocks-{uuid.uuid4().hex[:12]}", **options)
        data = os.urandom(BIG)
        assert store.create("k", streamed(data)) is not None
        puts = [r.target for r in proxy.seen if r.method == "PUT"]
        assert store.read("k") == data
    assert sum("comp=block&" in t or t.endswith("comp=block") for t in puts) >= 2
    assert sum("comp=blocklist" in t for t in puts) == 1

"""Ranged reads through the view: what is read is what is fetched, from one version."""

from __future__ import annotations

import io
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from persidict.storage.base import ByteStore
from persidict.testing import count_s3_requests
from persidict_fs import PersiDictFileSystem
from tests.conftest import BUCKET, Backend

DATA = bytes(range(256)) * 40  # 10 kB


@pytest.fixture
def fs(backend: Backend) -> PersiDictFileSystem:
    fs = PersiDictFileSystem(fo=backend.url, target_options=backend.options)
    fs.pipe({"r/a": DATA, "r/b": DATA[::-1]})
    return fs


def test_cat_ranges_read_each_range(fs):
    got = fs.cat_ranges(
        ["r/a", "r/b", "r/a", "r/a", "r/none"], [0, 10, 5000, -3, 0], [4, 12, 5002, None, 1]
    )
    assert got[:4] == [DATA[0:4], DATA[::-1][10:12], DATA[5000:5002], DATA[-3:]]
    assert isinstance(got[4], FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        fs.cat_ranges(["r/none"], [0], [1], on_error="raise")


def test_an_open_stored_file_reads_one_version(fs):
    with fs.open_stored("r/a") as f:
        fs.pipe_file("r/a", b"replaced meanwhile")
        try:
            seen = f.read()
        except OSError as exc:  # a store reading by ranges refuses to mix versions
            assert "r/a" in str(exc)
        else:
            assert seen == DATA
    with fs.open("r/a", "rb") as f:
        assert f.read() == b"replaced meanwhile"


@contextmanager
def s3_bytes_read(store) -> Iterator[Counter]:
    """Bytes of object bodies S3 sent back, counted from each GetObject response."""
    got: Counter = Counter()
    client = store.requests.run(store.fs.set_session)

    def count(http_response=None, parsed=None, **kwargs: object) -> None:
        got["GetObject"] += 1
        got["bytes"] += int((parsed or {}).get("ContentLength") or 0)

    client.meta.events.register("after-call.s3.GetObject", count)
    try:
        yield got
    finally:
        client.meta.events.unregister("after-call.s3.GetObject", count)


def test_cat_ranges_of_one_range_per_file_are_ranged_gets(s3_options):
    fs = PersiDictFileSystem(fo=f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}", **s3_options)
    fs.pipe({"a": DATA, "b": DATA})
    with count_s3_requests(fs.store) as sent, s3_bytes_read(fs.store) as got:
        assert fs.cat_ranges(["a", "b"], [100, 200], [110, 205]) == [DATA[100:110], DATA[200:205]]
    assert sent == Counter(GetObject=2) and got["bytes"] == 15


def test_one_column_of_a_parquet_file_fetches_about_that_column(s3_options):
    """Issue 10.6's budget: at most 1.2x the bytes of the column and the footer.

    pyarrow reads the footer (seek to the end), then the column's byte range;
    a reader that fetches a large first block at open, or reads ahead a fixed
    4 MB past each read, spends more than the column itself here (3.2 MB).
    """
    url = f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"
    fs = PersiDictFileSystem(fo=url, **s3_options)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"c{i}": rng.random(400_000) for i in range(4)})  # 3.2 MB a column
    buffer = io.BytesIO()
    frame.to_parquet(buffer, row_group_size=len(frame))
    fs.pipe_file("t.parquet", buffer.getvalue())
    meta = pq.ParquetFile(io.BytesIO(buffer.getvalue())).metadata
    column = meta.row_group(0).column(2).total_compressed_size
    footer = meta.serialized_size + 8
    assert type(fs.store).open_read is not ByteStore.open_read, (
        "this store's open_read fetches the whole object (no ranged reader)"
    )
    with s3_bytes_read(fs.store) as got:
        back = pd.read_parquet("t.parquet", columns=["c2"], filesystem=fs)
    pd.testing.assert_frame_equal(back, frame[["c2"]])
    assert got["GetObject"] > 0
    assert got["bytes"] <= 1.2 * (column + footer), (got, column, footer, len(buffer.getvalue()))


def test_reads_of_a_big_s3_file_match_its_bytes_and_read_ahead_grows(s3_options):
    fs = PersiDictFileSystem(fo=f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}", **s3_options)
    big = np.random.default_rng(1).bytes(10 << 20)
    fs.pipe_file("big", big)
    with s3_bytes_read(fs.store) as got, fs.open("big", "rb") as f:
        chunks = []
        while chunk := f.read(64 << 10):  # a sequential reader: 160 small reads
            chunks.append(chunk)
    assert b"".join(chunks) == big
    assert got["GetObject"] <= 12 and got["bytes"] <= len(big) + (64 << 10)
    with fs.open("big", "rb") as f:
        for start, size in [(5_000_000, 10), (100, 70_000), ((10 << 20) - 5, 5), (0, 3)]:
            f.seek(start)
            assert f.read(size) == big[start : start + size]
        f.seek(-4, 2)
        assert (f.read(), f.tell()) == (big[-4:], len(big))
        f.seek(1000)
        assert f.read() == big[1000:]


def test_the_view_files_seek_as_python_files_do_and_refuse_a_seek_before_the_start(s3_options):
    # The read-ahead of a big S3 file, the ranged reader under it, and a file being written.
    fs = PersiDictFileSystem(fo=f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}", **s3_options)
    big = bytes(range(256)) * 1024  # 256 kB: read by ranged GETs
    fs.pipe_file("big", big)
    with fs.open("big", "rb") as reader, fs.open("new", "wb") as writer:
        writer.write(b"abc")
        for f, size in [(reader, len(big)), (reader.raw, len(big)), (writer, 3)]:
            assert f.seekable()
            assert f.seek(0, io.SEEK_END) == size
            assert f.seek(10, io.SEEK_END) == size + 10  # past the end is allowed
            assert f.seek(-2, io.SEEK_CUR) == f.tell() == size + 8
            for offset, whence in [(-1, io.SEEK_SET), (-size - 9, io.SEEK_CUR), (-size - 1, 2)]:
                with pytest.raises(ValueError, match=r"negative seek position -1 in .*(big|new)"):
                    f.seek(offset, whence)
                assert f.tell() == size + 8  # where it was
            with pytest.raises(ValueError, match="invalid whence"):
                f.seek(0, 3)
        assert reader.read() == reader.raw.read() == b""  # at the end and past it
        assert reader.seek(-3, io.SEEK_CUR) == len(big) + 5
        reader.seek(-3, io.SEEK_END)
        assert reader.read() == big[-3:]
        writer.write(b"z")  # past the end: the gap reads as zeros, as in a file
    assert fs.cat_file("new") == b"abc" + bytes(8) + b"z"
    for f in (reader, reader.raw, writer):
        with pytest.raises(ValueError, match="closed file"):
            f.tell()
        with pytest.raises(ValueError, match="closed file"):
            f.seek(0)

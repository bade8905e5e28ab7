"""A file written through the view's ``open(..., "wb")`` spills to a temp file, not memory."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest

from persidict_fs import PersiDictFileSystem
from tests.conftest import Backend

MB = 1 << 20


def chunk(i: int) -> bytes:
    """1 MB, different for every ``i``."""
    return hashlib.sha256(str(i).encode()).digest() * (MB // 32)


def stored_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MB):
            h.update(block)
    return h.hexdigest()


def test_writing_64_mb_in_chunks_keeps_memory_far_below_the_size(tmp_path):
    fs = PersiDictFileSystem(fo=str(tmp_path / "store"), skip_instance_cache=True)
    expected = hashlib.sha256()
    tracemalloc.start()
    try:
        with fs.open("big/file.bin", "wb") as f:
            for i in range(64):
                data = chunk(i)
                expected.update(data)
                f.write(data)
                del data
            assert not fs.exists("big/file.bin")  # nothing stored before the close
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * MB / 4, f"peak traced memory {peak / MB:.1f} MB for a 64 MB file"
    assert fs.info("big/file.bin")["size"] == 64 * MB
    assert stored_digest(str(tmp_path / "store" / "big" / "file.bin")) == expected.hexdigest()
    assert os.listdir(tmp_path / "store" / "big") == ["file.bin"]  # no temp file left


@pytest.mark.parametrize("existing", [True, False])
def test_a_spilled_writer_that_fails_inside_with_commits_nothing(tmp_path, existing):
    fs = PersiDictFileSystem(fo=str(tmp_path / "store"), skip_instance_cache=True)
    fs.spill_threshold = MB
    if existing:
        fs.pipe_file("f.bin", b"old")
    with pytest.raises(RuntimeError, match="crash"), fs.open("f.bin", "wb") as f:
        for i in range(4):
            f.write(chunk(i))
        raise RuntimeError("crash mid-write")
    assert fs.ls("", detail=False) == (["f.bin"] if existing else [])
    if existing:
        assert fs.cat_file("f.bin") == b"old"
    assert os.listdir(tmp_path / "store") == (["f.bin"] if existing else [])


def test_spilled_writes_commit_exactly_on_every_backend(backend: Backend):
    fs = PersiDictFileSystem(fo=backend.url, target_options=backend.options,
                             skip_instance_cache=True)  # fmt: skip
    fs.spill_threshold = MB  # a few MB spill, on every store
    whole = b"".join(chunk(i) for i in range(3))
    with fs.open("w.bin", "wb") as f:
        f.write(whole[: MB // 2])
        f.write(whole[MB // 2 :])
        f.seek(10)
        f.write(b"0123456789")  # a write after a seek lands where it says
        assert f.tell() == 20
    assert fs.cat_file("w.bin") == whole[:10] + b"0123456789" + whole[20:]
    with fs.open("w.bin", "ab") as f:
        f.seek(0)
        f.write(b"tail")  # appending: at the end whatever the position
    assert fs.cat_file("w.bin", -8) == whole[-4:] + b"tail"
    with fs.transaction:
        with fs.open("tx.bin", "wb") as f:
            f.write(whole)
        assert not fs.exists("tx.bin")  # committed with the transaction, not at close
    assert fs.cat_file("tx.bin") == whole
    with fs.open("x.bin", "xb") as f:
        f.write(whole)
    with pytest.raises(FileExistsError):
        fs.open("x.bin", "xb")
    assert fs.cat_file("x.bin") == whole

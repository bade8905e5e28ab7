"""The view as fsspec users reach it: the entry point, chained URLs, pandas."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import uuid

import fsspec
import pandas as pd
import pytest

from persidict_fs import PersiDictFileSystem
from tests.conftest import BUCKET


@pytest.fixture(params=["local", "s3"])
def store_url(request, tmp_path):
    """(inner URL, fsspec.open keyword arguments reaching the inner filesystem)."""
    if request.param == "local":
        return f"file://{tmp_path}/store", {}
    options = request.getfixturevalue("s3_options")
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}", {"s3": dict(options)}


def test_the_protocol_is_registered_by_the_entry_point_alone(tmp_path):
    code = (
        "import fsspec, sys\n"
        f"fs = fsspec.filesystem('persidict', fo={str(tmp_path)!r})\n"
        "fs.pipe_file('k/v.txt', b'hi')\n"
        f"print(fsspec.open('persidict://k/v.txt::file://{tmp_path}').open().read())\n"
        "print(sorted(m for m in sys.modules if m.startswith('persidict')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[0] == "b'hi'"
    # the code named nothing of ours: fsspec found the class through the entry point
    assert "persidict_fs.filesystem" in out


def test_chained_urls_read_and_write(store_url):
    inner, options = store_url
    with fsspec.open(f"persidict://Eliza/year.json::{inner}", "w", **options) as f:
        f.write("1965")
    with fsspec.open(f"persidict://Eliza/year.json::{inner}", "rb", **options) as f:
        assert f.read() == b"1965"
    fs, path = fsspec.url_to_fs(f"persidict://Eliza::{inner}", **options)
    assert isinstance(fs, PersiDictFileSystem) and path == "Eliza"
    assert fs.ls(path, detail=False) == ["Eliza/year.json"]


def test_a_chained_url_without_a_format_stores_bytes_as_given(store_url):
    inner, options = store_url
    frame = pd.DataFrame({"name": ["Eliza", "Ada"], "year": [1965, 1843]})
    url = f"persidict://tables/x.json::{inner}"
    frame.to_json(url, orient="records", lines=True, storage_options=options)  # not one JSON
    back = pd.read_json(url, orient="records", lines=True, storage_options=options)
    pd.testing.assert_frame_equal(back, frame)


def test_a_chained_url_with_a_format_checks_its_keys(store_url):
    inner, options = store_url
    options = {**options, "persidict": {"serialization_format": "json"}}
    with (
        pytest.raises(ValueError, match=r"'Eliza/year\.json'"),
        fsspec.open(f"persidict://Eliza/year.json::{inner}", "wb", **options) as f,
    ):
        f.write(b"{broken")
    with fsspec.open(f"persidict://Eliza/notes.txt::{inner}", "wb", **options) as f:
        f.write(b"{not a key: as given")
    fs, _ = fsspec.url_to_fs(f"persidict://::{inner}", **options)
    assert fs.find("Eliza") == ["Eliza/notes.txt"]


def test_open_files_globs_inside_the_store(store_url):
    inner, options = store_url
    fs, _ = fsspec.url_to_fs(f"persidict://::{inner}", **options)
    for name in ["Eliza", "Alan", "Ada"]:
        fs.pipe_file(f"{name}/year.json", json.dumps(len(name)).encode())
    fs.pipe_file("Ada/notes.txt", b"not matched")
    files = fsspec.open_files(f"persidict://A*/year.json::{inner}", **options)
    assert sorted(f.path for f in files) == ["Ada/year.json", "Alan/year.json"]
    with files[0] as f:
        assert json.loads(f.read()) == 3


def test_filesystem_with_fo_url_and_options(s3_options):
    url = f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"
    fs = fsspec.filesystem("persidict", fo=url, serialization_format="json", **s3_options)
    fs.pipe_file("a.json", b'{"x": 1}')
    from persidict import open_dict

    assert open_dict(url, "json", **s3_options)["a"] == {"x": 1}


def test_the_view_pickles_as_its_address(tmp_path):
    fs = PersiDictFileSystem(fo=str(tmp_path), skip_instance_cache=True)
    fs.pipe_file("k", b"v")
    assert pickle.loads(pickle.dumps(fs)).cat_file("k") == b"v"


def test_pandas_round_trip_through_urls(store_url):
    inner, options = store_url
    frame = pd.DataFrame({"name": ["Eliza", "Ada"], "year": [1965, 1843]})
    csv_url = f"persidict://tables/people.csv::{inner}"
    frame.to_csv(csv_url, index=False, storage_options=options)
    pd.testing.assert_frame_equal(pd.read_csv(csv_url, storage_options=options), frame)
    json_url = f"persidict://tables/people.json::{inner}"
    frame.to_json(json_url, orient="records", storage_options=options)
    pd.testing.assert_frame_equal(
        pd.read_json(json_url, orient="records", storage_options=options), frame
    )


def test_pandas_parquet_files_and_a_folder_of_them(store_url):
    inner, options = store_url
    frame = pd.DataFrame({"year": [1965, 1843]})
    for name in ["a", "b"]:
        frame.to_parquet(f"persidict://parts/{name}.parquet::{inner}", storage_options=options)
    both = pd.read_parquet(f"persidict://parts::{inner}", storage_options=options)
    assert sorted(both["year"]) == [1843, 1843, 1965, 1965]

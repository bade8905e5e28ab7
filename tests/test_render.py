"""A readable view of any store: values as read-only JSON files (persidict_fs.render)."""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import random
import subprocess
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest

from persidict import open_dict
from persidict_fs.render import CannotRender, render, to_plain
from tests.test_cli import _Planted, run

# --- rendering values


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1965, 1965),
        ("MIT Eliza", "MIT Eliza"),
        (["Joseph Weizenbaum", ("W.C.", 2)], ["Joseph Weizenbaum", ["W.C.", 2]]),
        ({"a": {"b": None}, 3: True}, {"a": {"b": None}, "3": True}),
        ({2, 1}, [1, 2]),
        (float("nan"), "nan"),
        (dt.datetime(1965, 1, 2, 3, 4), "1965-01-02T03:04:00"),
        (b"\x00\xff", {"base64": "AP8="}),
        (np.arange(6).reshape(2, 3), [[0, 1, 2], [3, 4, 5]]),
        (np.float32(0.5), 0.5),
        (
            pd.DataFrame({"name": ["Eliza"], "year": [1965]}),
            {"columns": ["name", "year"], "index": [0], "data": [["Eliza", 1965]]},
        ),
    ],
)
def test_values_render_as_their_json(value, shown):
    text = render(value)
    assert text.endswith(b"\n") and json.loads(text) == shown


def _random_value(rng: random.Random, depth: int = 0):
    kinds = ["int", "float", "str", "none", "bool"] + ["list", "tuple", "dict", "array"] * (
        depth < 3
    )
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.randint(-(2**70), 2**70)
    if kind == "float":
        return rng.uniform(-1e300, 1e300)
    if kind == "str":
        return "".join(rng.choice('aé"\\\n\t{}[] 😀') for _ in range(rng.randint(0, 8)))
    if kind in ("none", "bool"):
        return None if kind == "none" else rng.random() < 0.5
    if kind == "array":
        return np.array([rng.randint(-9, 9) for _ in range(rng.randint(0, 5))])
    items = [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == "dict":
        return {f"k{i}": v for i, v in enumerate(items)}
    return tuple(items) if kind == "tuple" else items


def _expected(value):
    if isinstance(value, (list, tuple)):
        return [_expected(v) for v in value]
    if isinstance(value, dict):
        return {k: _expected(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [int(v) for v in value]
    return value


def test_random_nested_data_renders_as_valid_json_equal_to_it():
    rng = random.Random(22)
    for _ in range(500):
        value = _random_value(rng)
        assert json.loads(render(value)) == _expected(value)


def test_a_value_without_a_json_form_is_cannot_render():
    with pytest.raises(CannotRender, match="has no JSON form"):
        to_plain(object())


# --- the view and the mount


def _fill(d) -> dict[str, bytes]:
    """Values of every kind in a pkl or npy store; the JSON each must show as."""
    if d.serialization_format == "npy":
        d["a"], d["b", "c"] = np.arange(3), np.eye(2)
        return {"a.json": render([0, 1, 2]), "b/c.json": render([[1.0, 0.0], [0.0, 1.0]])}
    d["Eliza", "year"] = 1965
    d["Eliza", "authors"] = ["Joseph Weizenbaum", "George Bernard Shaw"]
    d["frame"] = pd.DataFrame({"name": ["Eliza", "Shoebox"], "year": [1965, 1961]})
    d["array"] = np.arange(4)
    return {
        "Eliza/year.json": b"1965\n",
        "Eliza/authors.json": render(["Joseph Weizenbaum", "George Bernard Shaw"]),
        "frame.json": render(
            {
                "columns": ["name", "year"],
                "index": [0, 1],
                "data": [["Eliza", 1965], ["Shoebox", 1961]],
            }
        ),
        "array.json": render([0, 1, 2, 3]),
    }


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """(url, CLI args, storage options) of a new store."""
    if request.param == "local":
        return str(tmp_path / "store"), [], {}
    options = request.getfixturevalue("s3_options")
    url = f"s3://persidict-tests/render-{uuid.uuid4().hex[:8]}"
    return url, ["--endpoint-url", options["endpoint_url"]], options


READ_ONLY_BATTERY = r"""
export LC_ALL=C
step() { echo "== $1"; }
step "find and md5sum"; find . -type f | sort | xargs -d '\n' md5sum
step "grep -r"; grep -r -n 1965 . | sort
step "cp -r out, diff -r"; cp -r . "$OUT/back" && diff -r . "$OUT/back" && echo same
step "tar -c"; tar -cf "$OUT/t.tar" . && tar -tf "$OUT/t.tar" | sort
step "rsync -a out"; rsync -a ./ "$OUT/synced/" && diff -r . "$OUT/synced" && echo same
step "du, wc, head"
du -ab --apparent-size . | awk -F'\t' '{print $2}' | sort
find . -type f | sort | xargs -d '\n' wc -c
find . -type f | sort | xargs -d '\n' head -n 1
"""

WRITES = [  # {f}: a rendered file
    "echo 1 > {f}",
    "echo 1 > new.json",
    "rm -f {f}",
    "mkdir made",
    "mv {f} moved.json",
    "touch {f}",
]


def _battery(where: Path, out: Path) -> str:
    out.mkdir()
    done = subprocess.run(
        ["bash", "-c", READ_ONLY_BATTERY],
        cwd=where,
        env={**os.environ, "OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout + done.stderr + f"exit {done.returncode}\n"


@pytest.mark.parametrize("fmt", ["pkl", "npy"])
def test_a_rendered_mount_serves_json_files_to_read_only_tools(store, fmt, tmp_path):
    url, extra, options = store
    expected = _fill(open_dict(url, fmt, **options))
    folder = tmp_path / "folder"  # what the mount must look like to every tool
    for path, text in expected.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(text)
    want = _battery(folder, tmp_path / "out-folder")
    assert want.endswith("exit 0\n"), want

    before = {k: open_dict(url, "bytes", **options)[k] for k in open_dict(url, "bytes", **options)}
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    trust = ["--trust"] if fmt == "pkl" else []  # pickles render only for a trusted store
    run("mount", url, str(mnt), "--render", "json", *trust, *extra)
    try:
        got = _battery(mnt, tmp_path / "out-mount")
        refused = [
            subprocess.run(
                ["bash", "-c", w.format(f=next(iter(expected)))],
                cwd=mnt,
                capture_output=True,
                text=True,
            )
            for w in WRITES
        ]
    finally:
        run("umount", str(mnt))
    assert got == want
    for write, done in zip(WRITES, refused, strict=True):
        assert done.returncode != 0 and "Read-only file system" in done.stderr, write
    after = {k: open_dict(url, "bytes", **options)[k] for k in open_dict(url, "bytes", **options)}
    assert after == before  # nothing written back


def test_pickles_naming_code_render_as_a_placeholder_unless_the_store_is_trusted(tmp_path):
    src = tmp_path / "src"
    open_dict(str(src), "pkl")["ok"] = {"a": 1}
    marker = tmp_path / "marker"
    (src / "planted.pkl").write_bytes(pickle.dumps(_Planted(marker)))
    fs = fsspec.filesystem("persidict", fo=str(src), render="json", skip_instance_cache=True)
    assert sorted(fs.find("")) == ["ok.json", "planted.json"]
    assert json.loads(fs.cat_file("ok.json")) == {"a": 1}
    line = fs.cat_file("planted.json")
    assert line.count(b"\n") == 1 and b"refused to load posix.system" in line
    assert json.loads(line).startswith("<not rendered: ")
    assert not marker.exists()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    run("mount", str(src), str(mnt), "--render", "json")
    try:
        assert (mnt / "planted.json").read_bytes() == line  # the mount: the same rule
    finally:
        run("umount", str(mnt))
    assert not marker.exists()
    trusted = fsspec.filesystem(
        "persidict", fo=str(src), render="json", trust=True, skip_instance_cache=True
    )
    trusted.cat_file("planted.json")
    assert marker.exists()  # trust is the user saying the code may run


def test_get_as_json_prints_the_same_json(tmp_path):
    d = open_dict(str(tmp_path / "store"), "pkl")
    expected = _fill(d)
    assert (
        run("get", str(tmp_path / "store"), "frame", "--as", "json", "--trust").stdout.encode()
        == (expected["frame.json"])
    )
    d["odd"] = 1 + 2j
    odd = run("get", str(tmp_path / "store"), "odd", "--as", "json", "--trust").stdout
    assert json.loads(odd) == "(1+2j)"


def test_a_raw_store_is_not_rendered(tmp_path):
    open_dict(str(tmp_path / "raw"), "bytes")["a"] = b"x"
    with pytest.raises(ValueError, match="already its values"):
        fsspec.filesystem("persidict", fo=str(tmp_path / "raw"), render="json")

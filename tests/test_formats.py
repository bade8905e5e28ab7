"""Formats: round trips, readable text, and clear refusals before anything is written."""

import io
import pickle
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from persidict import open_dict
from persidict.formats import (
    Format,
    FormatError,
    format_names,
    get_format,
    json_format,
    register_format,
)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("pkl", {"a": (1, 2.5, None), 3: {4}}),
        ("json", {"a": [1, 2], "t": (1, 2), 3: "int key"}),
        ("txt", "héllo\nworld"),
        ("bytes", b"\x00\x01raw"),
    ],
)
def test_round_trip(name, value):
    fmt = get_format(name)
    assert fmt.decode(fmt.encode(value)) == value


def test_npy_round_trip():
    fmt = get_format("npy")
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(fmt.decode(fmt.encode(arr)), arr)


def test_parquet_round_trip():
    fmt = get_format("parquet")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    pd.testing.assert_frame_equal(fmt.decode(fmt.encode(frame)), frame)


def test_json_is_readable_text():
    data = get_format("json").encode({"name": "Eliza", "year": 1965})
    assert b'"name": "Eliza"' in data


def test_unknown_format_lists_known_ones():
    with pytest.raises(ValueError, match="unknown serialization format 'yaml'.*pkl"):
        get_format("yaml")


def test_unpicklable_value_is_refused():
    with pytest.raises(FormatError, match="cannot store a value of type lock"):
        get_format("pkl").encode(threading.Lock())


def test_json_refuses_what_it_would_silently_drop():
    with pytest.raises(FormatError, match="format 'json' cannot store function"):
        get_format("json").encode({"f": lambda x: x})


@pytest.mark.parametrize(("name", "value"), [("txt", 12), ("bytes", "str"), ("npy", [1])])
def test_wrong_value_type_is_refused(name, value):
    with pytest.raises(FormatError, match=f"format '{name}'"):
        get_format(name).encode(value)


def test_corrupt_bytes_name_where_they_came_from():
    with pytest.raises(FormatError, match="corrupt 'pkl' data in /x/y.pkl"):
        get_format("pkl").decode(b"not a pickle", "/x/y.pkl")


def test_validate_checks_json_and_utf8_cheaply():
    get_format("json").validate(b'{"a": 1}')
    with pytest.raises(FormatError, match="not valid 'json' data for a.json"):
        get_format("json").validate(b"{oops", "a.json")
    with pytest.raises(FormatError, match="not valid 'txt' data"):
        get_format("txt").validate(b"\xff\xfe")


def test_registry_is_extensible():
    upper = Format("upper", ".up", lambda v: v.upper().encode(), lambda b: b.decode())
    register_format(upper, replace=True)
    assert "upper" in format_names()
    assert get_format("upper").encode("abc") == b"ABC"
    with pytest.raises(ValueError, match="already registered"):
        register_format(upper)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("pkl", {"a": np.arange(5)}),
        ("npy", np.arange(12, dtype=np.int16).reshape(3, 4)),
        ("parquet", pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})),
        ("json", {"a": [1, 2]}),
        ("txt", "text"),
    ],
)
def test_dump_and_load_through_a_real_file(tmp_path, name, value):
    fmt = get_format(name)
    with open(tmp_path / "v", "wb") as f:
        fmt.dump(value, f)
    with open(tmp_path / "v", "rb") as f:
        back = fmt.load(f, "v")
    assert (tmp_path / "v").read_bytes() == fmt.encode(value) or name == "parquet"
    if name == "parquet":
        pd.testing.assert_frame_equal(back, value)
    elif name == "npy":
        assert np.array_equal(back, value) and back.dtype == value.dtype
    elif name == "pkl":
        assert np.array_equal(back["a"], value["a"])
    else:
        assert back == value


def test_big_value_formats_stream():
    assert [n for n in format_names() if get_format(n).streams] == ["npy", "parquet", "pkl"]


def test_load_names_the_file_of_corrupt_data(tmp_path):
    (tmp_path / "v").write_bytes(b"not an array")
    with open(tmp_path / "v", "rb") as f, pytest.raises(FormatError, match="'npy' data in /s/v"):
        get_format("npy").load(f, "/s/v")


def test_dump_refuses_a_wrong_type_before_writing(tmp_path):
    with open(tmp_path / "v", "wb") as f, pytest.raises(FormatError, match="format 'npy'"):
        get_format("npy").dump([1, 2], f)
    assert (tmp_path / "v").read_bytes() == b""


def test_dump_lets_the_files_own_error_through():
    class Full(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        get_format("pkl").dump(np.zeros(10), Full())


_PEAK_RSS = """
import resource, sys, numpy as np
from persidict.formats import get_format
fmt, path = get_format(sys.argv[1]), sys.argv[2]
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
value = np.ones(50 * 2**20 // 8)
before = peak()
with open(path, "wb") as f:
    fmt.dump(value, f)
dumped = peak() - before
del value
before = peak()
with open(path, "rb") as f:
    back = fmt.load(f, path)
print(dumped / back.nbytes, (peak() - before) / back.nbytes)
"""


@pytest.mark.parametrize("name", ["pkl", "npy"])
def test_a_50_mb_array_streams_with_one_copy_at_most(tmp_path, name):
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, name, str(tmp_path / "v")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    dump_extra, load_peak = map(float, out)
    assert dump_extra < 0.2  # no encoded copy beside the value
    assert load_peak < 1.2  # the value itself, read straight into place


_WITHOUT_EXTRAS = """
import sys
for name in ("numpy", "pandas", "pyarrow", "joblib", "lz4"):
    sys.modules[name] = None  # as if the extras were not installed
from persidict import open_dict
from persidict.cli import main
from persidict.dicts.url import guess_format
from persidict.formats import format_names, get_format
store = sys.argv[1]
print(format_names())
print(guess_format(store))
main(["ls", store, "--format", "npy"])
for action in (lambda: open_dict(store, "npy")["a"], lambda: get_format("parquet").encode(1),
               lambda: open_dict(sys.argv[2], "pkl")["old"]):
    try:
        action()
    except ImportError as exc:
        print(exc)
"""


def test_every_format_is_known_without_its_extra_which_is_named_when_needed(tmp_path):
    store = open_dict(str(tmp_path / "arrays"), "npy")
    store["a"], store["b", "c"] = np.arange(3), np.ones(2)
    (tmp_path / "upstream").mkdir()
    (tmp_path / "upstream" / "old.pkl").write_bytes(_upstream_pickle({"a": 1}))
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _WITHOUT_EXTRAS,
            str(tmp_path / "arrays"),
            str(tmp_path / "upstream"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0] == str(["bytes", "json", "npy", "parquet", "pkl", "txt"])
    assert out[1] == "npy"
    assert out[2:4] == ["a", "b/c"]
    assert "format 'npy' needs numpy" in out[4] and 'pip install "persidict[numpy]"' in out[4]
    assert "format 'parquet' needs pandas" in out[5] and "persidict[pandas]" in out[5]
    assert "persidict 0.309.0 (lz4) needs joblib" in out[6] and "persidict[lz4]" in out[6]
    assert "old.pkl" in out[6]


def _upstream_pickle(value) -> bytes:
    """What persidict 0.309.0 stores for ``value``: ``joblib.dump(value, f, compress="lz4")``."""
    import joblib

    buf = io.BytesIO()
    joblib.dump(value, buf, compress="lz4")
    return buf.getvalue()


def test_pkl_reads_the_lz4_pickles_persidict_0309_wrote(tmp_path):
    value = {"a": 1, "arr": np.arange(1000.0), "frame": pd.DataFrame({"x": [1, 2]})}
    data = _upstream_pickle(value)
    assert data[:4] == bytes.fromhex("04224d18")
    (tmp_path / "k.pkl").write_bytes(data)
    d = open_dict(str(tmp_path), "pkl")
    back = d["k"]
    assert back["a"] == 1 and np.array_equal(back["arr"], value["arr"])
    pd.testing.assert_frame_equal(back["frame"], value["frame"])
    assert get_format("pkl").decode(data)["a"] == 1
    get_format("pkl").validate(data)
    d["k"] = value  # writes stay plain pickle
    assert (tmp_path / "k.pkl").read_bytes()[:2] == b"\x80\x05"


def test_a_dict_with_an_unregistered_format_pickles_and_unpickles(tmp_path):
    from persidict.formats.plain import txt_dumps, txt_loads

    custom = Format("shout", ".shout", txt_dumps, txt_loads)
    d = open_dict(str(tmp_path), serialization_format=custom)
    d["k"] = "hi"
    code = "import pickle, sys; d = pickle.loads(sys.stdin.buffer.read()); print(d['k'], d.format)"
    done = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(d), capture_output=True, check=True
    )
    assert done.stdout.decode().startswith("hi Format(name='shout'")
    registered = open_dict(str(tmp_path), "json")
    assert b"txt_dumps" not in pickle.dumps(registered)  # a registered format goes by name
    trusting = pickle.loads(
        pickle.dumps(open_dict(str(tmp_path), serialization_format=json_format(trusted=True)))
    )
    assert trusting.format.loads.__self__.trusted

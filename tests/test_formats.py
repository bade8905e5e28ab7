"""Formats: round trips, readable text, and clear refusals before anything is written."""

import io
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from persidict.formats import Format, FormatError, format_names, get_format, register_format


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

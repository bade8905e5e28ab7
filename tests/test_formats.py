"""Formats: round trips, readable text, and clear refusals before anything is written."""

import threading
import time

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


def test_unpicklable_value_fails_fast():
    start = time.perf_counter()
    with pytest.raises(FormatError, match="cannot store a value of type lock"):
        get_format("pkl").encode(threading.Lock())
    assert time.perf_counter() - start < 0.5


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

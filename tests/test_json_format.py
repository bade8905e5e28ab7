"""The json format: data only unless trusted, exact numpy/pandas, upstream's jsonpickle output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from persidict import open_dict
from persidict.formats import FormatError, get_format, json_format

PERSIDICT = str(Path(sys.executable).with_name("persidict"))


def malicious(marker: Path) -> bytes:
    """A jsonpickle document whose decoding runs ``touch marker``."""
    call = {"py/reduce": [{"py/function": "os.system"}, {"py/tuple": [f"touch {marker}"]}]}
    return json.dumps({"name": "Eliza", "payload": call}).encode()


ATTACKS = {
    "reduce": lambda m: {"py/reduce": [{"py/function": "os.system"}, {"py/tuple": [f"touch {m}"]}]},
    "type": lambda m: {
        "py/reduce": [{"py/type": "subprocess.Popen"}, {"py/tuple": [["touch", m]]}]
    },
    "object": lambda m: {
        "py/object": "subprocess.Popen",
        "py/newargs": {"py/tuple": [["touch", m]]},
    },
    "module": lambda m: {"py/reduce": [{"py/mod": "os/os.system"}, {"py/tuple": [f"touch {m}"]}]},
    "key": lambda m: {"json://" + json.dumps(ATTACKS["reduce"](m)): 1},
    "factory": lambda m: {
        "py/object": "collections.defaultdict",
        "default_factory": {"py/function": "os.getcwd"},
    },
    "in_a_frame": lambda m: {
        "py/object": "pandas.core.frame.DataFrame",
        "values": json.dumps({"a": [json.dumps(ATTACKS["reduce"](m))]}),
        "txt": True,
        "meta": {"dtypes_rle": [["py/jp", 1]], "columns": '["a"]', "index": "[0]"},
    },
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_decoding_refuses_code_and_names_the_file(tmp_path, attack):
    marker = tmp_path / "marker"
    data = json.dumps(ATTACKS[attack](str(marker))).encode()
    with pytest.raises(FormatError, match=r"in /s/k\.json: refused to decode py/"):
        get_format("json").decode(data, "/s/k.json")
    assert not marker.exists()


def test_a_planted_file_never_runs_through_the_dict_the_cli_or_the_view(tmp_path):
    import fsspec

    marker = tmp_path / "marker"
    store = tmp_path / "store"
    d = open_dict(str(store), "json")
    d["ok"] = 1
    (store / "planted.json").write_bytes(malicious(marker))
    with pytest.raises(
        FormatError, match="planted.json: refused to decode py/function 'os.system'"
    ):
        d["planted"]
    done = subprocess.run([PERSIDICT, "get", str(store), "planted"], capture_output=True, text=True)
    assert done.returncode == 1 and "refused to decode" in done.stderr
    fs = fsspec.filesystem("persidict", dict=d, skip_instance_cache=True)
    assert fs.cat_file("planted.json") == malicious(marker)  # the bytes, as stored
    with pytest.raises((FormatError, OSError, ValueError)):
        fs.pipe_file("again.json", malicious(marker))
    assert "again" not in d
    assert not marker.exists()


def test_trusted_json_runs_what_the_store_names(tmp_path):
    marker = tmp_path / "marker"
    value = json_format(trusted=True).decode(malicious(marker))
    assert value["name"] == "Eliza" and marker.exists()


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


def test_user_classes_need_to_be_allowed(tmp_path):
    with pytest.raises(FormatError, match="refused to decode py/object '.*Point'"):
        get_format("json").encode(Point(1, 2))  # nothing written that could not be read
    allowed = json_format(allow=[Point])
    assert allowed.decode(allowed.encode({"p": Point(1, 2)})) == {"p": Point(1, 2)}
    d = open_dict(str(tmp_path / "s"), serialization_format=allowed)
    d["p"] = Point(3, 4)
    assert d["p"] == Point(3, 4) and d.serialization_format == "json"


@pytest.mark.parametrize(
    "value",
    [
        {"a": (1, 2), 3: {4}, (5, 6): None, "b": b"\x00"},
        {3: np.int64(1), "a": __import__("datetime").date(2024, 1, 1)},  # read back in other order
        __import__("datetime").datetime(2024, 1, 2, tzinfo=__import__("zoneinfo").ZoneInfo("UTC")),
        __import__("decimal").Decimal("1.10"),
        __import__("uuid").UUID(int=7),
        __import__("collections").OrderedDict(a=1),
        np.float32(1.5),
        np.arange(6, dtype=np.int16).reshape(2, 3),
        np.array([1.0, np.nan, -0.0]),
        np.random.default_rng(0).random(1000),
        np.array(["a", None, 3], dtype=object),
    ],
    ids=lambda v: type(v).__name__,
)
def test_data_round_trips_exactly(value):
    fmt = get_format("json")
    back = fmt.decode(fmt.encode(value))
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
        assert np.array_equal(back, value, equal_nan=value.dtype.kind == "f")
    else:
        assert type(back) is type(value) and back == value


def test_a_small_array_is_readable_numbers():
    text = get_format("json").encode(np.array([1.5, 2.5, 3.5, 4.5])).decode()
    doc = json.loads(text)
    assert doc["dtype"] == "float64" and doc["values"] == [1.5, 2.5, 3.5, 4.5]
    assert len(text) < 200


def test_what_json_cannot_hold_exactly_is_refused_and_nothing_is_written(tmp_path):
    d = open_dict(str(tmp_path / "s"), "json")
    for value in (bytearray(b"xy"), np.ma.masked_array([1, 2], mask=[0, 1])):
        with pytest.raises(FormatError, match="format 'json'"):
            d["k"] = value
    assert "k" not in d and list((tmp_path / "s").rglob("*.json")) == []


FRAMES = {
    "plain": "pd.DataFrame({'a': [1, 2], 'b': [0.5, 1.5], 's': ['x', None]})",
    "named": "pd.DataFrame({'a': [1, 2]}, index=pd.Index(['r1', 'r2'], name='row'))"
    ".rename_axis(columns='col')",
    "multiindex": "pd.DataFrame(np.arange(8).reshape(4, 2), "
    "index=pd.MultiIndex.from_product([['a', 'b'], [1, 2]], names=['k', 'n']), "
    "columns=pd.MultiIndex.from_tuples([('x', 'p'), ('x', 'q')], names=['c1', 'c2']))",
    "tz_categorical": "pd.DataFrame({"
    "'t': pd.date_range('2024-01-01', periods=3, tz='Europe/Berlin'), "
    "'c': pd.Categorical(['a', 'b', 'a'], categories=['b', 'a'], ordered=True), "
    "'n': pd.array([1, None, 3], dtype='Int64')})",
    "datetime_index": "pd.DataFrame({'v': [1.0, np.nan, 3.0], 'd': pd.to_timedelta([1, 2, 3], "
    "unit='s')}, index=pd.date_range('2024-01-01', periods=3, freq='D', name='day'))",
    "object_column": "pd.DataFrame({'o': pd.Series([1, 'x', (2, 3)], dtype=object)})",
    "big": "pd.DataFrame({'x': np.random.default_rng(0).random(5000), "
    "'t': pd.date_range('2024', periods=5000, freq='min', tz='UTC')})",
    "series": "pd.Series([1.5, None], index=pd.Index(['a', 'b'], name='i'), name='s')",
    "timestamp": "pd.Timestamp('2024-01-02 03:04:05.000000006', tz='Europe/Berlin')",
    "empty": "pd.DataFrame()",
}

_ROUND_TRIP = """
import sys, numpy as np, pandas as pd
from persidict import open_dict
value = eval(sys.argv[2])
d = open_dict(sys.argv[1], "json")
d["v"] = value
back = open_dict(sys.argv[1], "json")["v"]
if isinstance(value, pd.DataFrame):
    pd.testing.assert_frame_equal(back, value, check_exact=True, check_freq=True)
    pd.testing.assert_index_equal(back.columns, value.columns, exact=True)
elif isinstance(value, pd.Series):
    pd.testing.assert_series_equal(back, value, check_exact=True)
else:
    assert back == value and back.tz == value.tz and back.unit == value.unit, (back, value)
print("same")
"""


@pytest.mark.parametrize("case", sorted(FRAMES))
def test_pandas_round_trips_exactly_in_a_fresh_process(tmp_path, case):
    # A crash (the segfault seen before) fails the test instead of ending the run.
    done = subprocess.run(
        [sys.executable, "-c", _ROUND_TRIP, str(tmp_path / "s"), FRAMES[case]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout == "same\n", done.stderr[-2000:]


_JSONPICKLE_WRITER = """
import json, jsonpickle, numpy as np, pandas as pd
import jsonpickle.ext.numpy as jnp, jsonpickle.ext.pandas as jpd
jnp.register_handlers(); jpd.register_handlers()   # what persidict 0.309.0 does
values = {
    "small": np.arange(4.0), "big": np.arange(100.0).reshape(10, 10), "scalar": np.int32(7),
    "frame": pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}, index=pd.Index(["r1", "r2"], name="row")),
    "multicolumns": pd.DataFrame(np.arange(4).reshape(2, 2),
                                 columns=pd.MultiIndex.from_tuples([("x", "p"), ("x", "q")])),
    "long": pd.DataFrame({"a": np.arange(1000)}),
    "series": pd.Series([1.0, 2.0], name="s"), "timestamp": pd.Timestamp("2024-01-02 03:04:05"),
}
print(json.dumps({k: jsonpickle.encode(v, keys=True) for k, v in values.items()}))
"""


def test_reads_what_jsonpickles_own_numpy_and_pandas_handlers_wrote():
    out = subprocess.run(
        [sys.executable, "-c", _JSONPICKLE_WRITER], capture_output=True, text=True, check=True
    ).stdout
    docs = {k: get_format("json").decode(v.encode(), k) for k, v in json.loads(out).items()}
    assert np.array_equal(docs["small"], np.arange(4.0))
    assert np.array_equal(docs["big"], np.arange(100.0).reshape(10, 10))
    assert docs["scalar"] == np.int32(7) and type(docs["scalar"]) is np.int32
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}, index=pd.Index(["r1", "r2"], name="row"))
    pd.testing.assert_frame_equal(docs["frame"], frame)
    assert list(docs["multicolumns"].columns) == [("x", "p"), ("x", "q")]
    assert docs["long"]["a"].tolist() == list(range(1000))
    pd.testing.assert_series_equal(docs["series"], pd.Series([1.0, 2.0], name="s"))
    assert docs["timestamp"] == pd.Timestamp("2024-01-02 03:04:05")


_HOSTILE_ARRAYS = """
import base64, json, sys, zlib
from persidict.formats import FormatError, get_format
raw = base64.b64encode(zlib.compress(bytes(16))).decode()
ints = {"py/object": "numpy.ndarray", "dtype": "int64", "values": [1, 2]}
objects = {"py/object": "numpy.ndarray", "dtype": "object", "values": [1, "x"]}
view = {"py/object": "numpy.ndarray", "shape": [2], "strides": [8], "offset": 0}
docs = [
    {"py/object": "numpy.ndarray", "dtype": "[('a', 'O')]", "values": raw, "shape": [2]},
    {**view, "base": ints, "dtype": "object"},
    {**view, "base": objects, "dtype": "int64"},
    {**view, "base": ints, "dtype": "int64", "shape": [1000], "strides": [800000]},
    {"py/object": "pandas.Index", "kind": "multi", "names": [None], "codes": [ints],
     "levels": [{"name": None, "values": {"py/object": "numpy.ndarray", "dtype": "int64",
                                           "values": [7]}}]},
]
for doc in docs:
    try:
        get_format("json").decode(json.dumps(doc).encode(), "k.json")
    except FormatError:
        print("refused")
"""


def test_hostile_arrays_are_refused_without_crashing():
    # Object pointers made of stored numbers would crash the reading process.
    done = subprocess.run(
        [sys.executable, "-c", _HOSTILE_ARRAYS], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["refused"] * 5

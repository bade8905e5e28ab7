"""safe_loads builds plain data and refuses every other name before importing it."""

from __future__ import annotations

import collections
import datetime
import decimal
import pickle
import uuid
from dataclasses import dataclass

import pytest

from persidict.safe_pickle import UnsafePickleError, safe_loads

PLAIN = [
    {"a": [1, 2.5, None, True], "b": (b"x", bytearray(b"y"), {1, 2}, frozenset([3]))},
    [1j, range(3), slice(1, 2), "text"],
    collections.OrderedDict(a=1),
    collections.defaultdict(list, a=[1]),
    collections.deque([1, 2]),
    collections.Counter("aab"),
    datetime.datetime(2020, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),
    datetime.timedelta(days=1),
    decimal.Decimal("1.10"),
    uuid.UUID(int=7),
]


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("value", PLAIN, ids=lambda v: type(v).__name__)
def test_plain_data_loads_as_pickle_would(value, protocol):
    assert safe_loads(pickle.dumps(value, protocol=protocol)) == value


@pytest.mark.parametrize("protocol", [2, 5])
def test_numpy_and_pandas_data_load(protocol):
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    array = np.arange(12.0).reshape(3, 4)
    assert (safe_loads(pickle.dumps(array, protocol=protocol)) == array).all()
    frame = pd.DataFrame(
        {
            "t": pd.date_range("2020", periods=2, tz="UTC"),
            "c": pd.Categorical(["a", "b"]),
            "s": ["x", "y"],
        },
        index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"]),
    )
    assert safe_loads(pickle.dumps(frame, protocol=protocol)).equals(frame)


class _Calls:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


@pytest.mark.parametrize(
    ("func", "args", "named"),
    [
        (eval, ("1",), "builtins.eval"),
        (getattr, (int, "real"), "builtins.getattr"),
        (__import__, ("os",), "builtins.__import__"),
        (pickle.loads, (b"",), "_pickle.loads"),
    ],
)
def test_anything_that_is_not_data_is_refused_naming_it(func, args, named):
    with pytest.raises(UnsafePickleError, match=f"refused to load {named}"):
        safe_loads(pickle.dumps(_Calls(func, *args)))


def test_a_numpy_class_that_writes_files_is_refused(tmp_path):
    np = pytest.importorskip("numpy")
    target = tmp_path / "made"
    evil = pickle.dumps(_Calls(np.memmap, str(target), "uint8", "w+", 0, (4,)))
    with pytest.raises(UnsafePickleError, match="numpy.memmap"):
        safe_loads(evil)
    assert not target.exists()


def test_a_module_named_by_the_pickle_is_never_imported():
    evil = b"cnot_a_module_xy\nf\n."  # GLOBAL not_a_module_xy.f, STOP
    with pytest.raises(UnsafePickleError, match="not_a_module_xy.f"):
        safe_loads(evil)  # refused by name: no ModuleNotFoundError from an import


@dataclass
class Point:
    x: int
    y: int


def test_classes_the_caller_allows_load():
    data = pickle.dumps(Point(1, 2))
    with pytest.raises(UnsafePickleError, match="Point"):
        safe_loads(data)
    assert safe_loads(data, allowed=[Point]) == Point(1, 2)

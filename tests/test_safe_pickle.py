"""pickled_class judges a pickle's top-level class from its opcodes; nothing is built or run."""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import pickle
import sys
import uuid
from dataclasses import dataclass

import pytest

from persidict.safe_pickle import UnsafePickleError, pickled_class

PLAIN = [
    {"a": [1, 2.5, None, True], "b": (b"x", bytearray(b"y"), {1, 2}, frozenset([3]))},
    [1j, range(3), slice(1, 2), "text"],
    (1, 2),
    "text",
    b"bytes",
    bytearray(b"y"),
    frozenset([3]),
    {1, 2},
    7,
    True,
    None,
    2.5,
    1j,
    range(3),
    collections.OrderedDict(a=1),
    collections.defaultdict(list, a=[1]),
    collections.deque([1, 2]),
    collections.Counter("aab"),
    datetime.datetime(2020, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),
    datetime.timedelta(days=1),
    decimal.Decimal("1.10"),
    fractions.Fraction(1, 3),
    uuid.UUID(int=7),
]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("value", PLAIN, ids=lambda v: type(v).__name__)
def test_the_class_of_plain_data_is_read_from_the_opcodes(value, protocol):
    assert pickled_class(pickle.dumps(value, protocol=protocol)) == (type(value), True)


@pytest.mark.parametrize("protocol", [2, 5])
def test_numpy_and_pandas_classes_are_read(protocol):
    import numpy as np
    import pandas as pd
    for value in (
        np.arange(12.0).reshape(3, 4),
        pd.DataFrame({"t": pd.date_range("2020", periods=2, tz="UTC"), "s": ["x", "y"]}),
        pd.Series([1, 2]),
        pd.Index([1, 2]),
        pd.Timestamp("2020-01-01"),
    ):
        cls, exact = pickled_class(pickle.dumps(value, protocol=protocol))
        assert exact and cls is type(value)
    # A numpy scalar is rebuilt by a function from its dtype: only "some numpy scalar".
    assert pickled_class(pickle.dumps(np.float64(1.5), protocol=protocol)) == (np.generic, False)


class _Calls:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


@pytest.mark.parametrize(
    "func", [eval, getattr, __import__, pickle.loads, print], ids=lambda f: f.__name__
)
def test_a_function_result_cannot_be_judged(func):
    with pytest.raises(UnsafePickleError, match="cannot be judged"):
        pickled_class(pickle.dumps(_Calls(func, "1")))


def test_a_module_named_by_the_pickle_is_never_imported():
    evil = pickle.dumps(_Calls(dict)).replace(b"builtins", b"no_mod_x")  # same length
    with pytest.raises(UnsafePickleError, match="not a class imported"):
        pickled_class(evil)
    assert "no_mod_x" not in sys.modules


@pytest.mark.parametrize(
    "data",
    [b"", b".", b"\x80\x05N", b"\x80\x05(.", b"\x80\x05h\x07.", b"\x80\x05\x8c\x01a\x8c\x01b\x93."],
    ids=["empty", "stop-only", "no-stop", "mark-only", "memo-unset", "global-itself"],
)
def test_malformed_or_unjudgeable_pickles_are_refused(data):
    with pytest.raises(UnsafePickleError):
        pickled_class(data)


@pytest.mark.parametrize(
    "op", [b"P0\n", b"Q", b"\x82\x01", b"\x97"], ids=["PERSID", "BINPERSID", "EXT1", "NEXT_BUFFER"]
)
def test_opcodes_that_reach_outside_the_pickle_are_refused(op):
    with pytest.raises(UnsafePickleError):
        pickled_class(b"\x80\x05N" + op + b".")


@dataclass
class Point:
    x: int
    y: int


def test_a_class_is_judged_by_its_name_in_modules_already_imported():
    assert pickled_class(pickle.dumps(Point(1, 2))) == (Point, True)
    assert pickled_class(pickle.dumps(Point(1, 2), protocol=0)) == (Point, True)


def test_build_on_a_class_object_changes_nothing():
    """A pickle that BUILDs attributes onto collections.Counter: judged, nothing set."""
    before = collections.Counter.most_common
    evil = (
        b"\x80\x02ccollections\nCounter\nN}X\x0b\x00\x00\x00most_commonc__builtin__\nbytes\ns\x86b."
    )
    with pytest.raises(UnsafePickleError):
        pickled_class(evil)
    assert collections.Counter.most_common is before

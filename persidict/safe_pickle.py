"""safe_loads: read a pickle without running code it names, to look at the value.

Unpickling calls whatever the pickle names (``os.system``, say); it runs
code by design. This unpickler resolves only names on a fixed list of data
types and their own rebuilding functions (builtins, datetime, decimal, uuid,
collections, numpy, pandas, pyarrow) plus the classes the caller allows, and
refuses every other name before importing anything. It serves checks of
bytes that arrive from outside (the filesystem view checking
``base_class_for_values``), never ``d[k]``, which unpickles by design.
This module is pure: no I/O.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
from collections.abc import Iterable
from typing import Any

_SAFE: dict[str, frozenset[str]] = {
    name: frozenset(names.split())
    for name, names in {
        "builtins": "bool int float complex str bytes bytearray list tuple dict set frozenset "
        "slice range object Ellipsis NotImplemented",
        "copyreg": "_reconstructor",
        "_codecs": "encode",
        "collections": "OrderedDict defaultdict deque Counter",
        "datetime": "date datetime time timedelta timezone",
        "zoneinfo": "ZoneInfo ZoneInfo._unpickle",
        "decimal": "Decimal",
        "fractions": "Fraction",
        "uuid": "UUID",
        "pathlib": "PurePath PurePosixPath PureWindowsPath",
        "numpy": "ndarray dtype",
        "numpy._core.multiarray": "_reconstruct scalar",
        "numpy._core.numeric": "_frombuffer",
        "numpy.ma": "MaskedArray",
        "numpy.ma.core": "MaskedArray _mareconstruct",
        "pandas": "DataFrame Series Index RangeIndex MultiIndex DatetimeIndex TimedeltaIndex "
        "PeriodIndex CategoricalIndex IntervalIndex Categorical CategoricalDtype "
        "DatetimeTZDtype PeriodDtype IntervalDtype StringDtype BooleanDtype ArrowDtype "
        "Int8Dtype Int16Dtype Int32Dtype Int64Dtype UInt8Dtype UInt16Dtype UInt32Dtype "
        "UInt64Dtype Float32Dtype Float64Dtype Timestamp Timedelta Period Interval NA NaT",
        "pandas.arrays": "DatetimeArray TimedeltaArray PeriodArray IntegerArray FloatingArray "
        "BooleanArray StringArray ArrowStringArray ArrowExtensionArray IntervalArray "
        "Categorical",
        "pandas.core.frame": "DataFrame",
        "pandas.core.series": "Series",
        "pandas.core.indexes.base": "Index _new_Index",
        "pandas.core.indexes.range": "RangeIndex",
        "pandas.core.indexes.multi": "MultiIndex",
        "pandas.core.indexes.datetimes": "DatetimeIndex _new_DatetimeIndex",
        "pandas.core.indexes.period": "PeriodIndex _new_PeriodIndex",
        "pandas.core.internals.managers": "BlockManager SingleBlockManager",
        "pandas.core.internals.blocks": "new_block",
        "pandas._libs.internals": "_unpickle_block",
        "pandas._libs.arrays": "__pyx_unpickle_NDArrayBacked",
        "pandas._libs.tslibs.nattype": "_nat_unpickle",
        "pandas._libs.tslibs.timestamps": "_unpickle_timestamp Timestamp",
        "pandas._libs.tslibs.timedeltas": "_timedelta_unpickle Timedelta",
        "pandas._libs.tslibs.offsets": "Day Hour Minute Second Milli Micro Nano BusinessDay "
        "Week MonthEnd MonthBegin BusinessMonthEnd BusinessMonthBegin QuarterEnd "
        "QuarterBegin YearEnd YearBegin DateOffset",
        "pyarrow.lib": "_restore_array py_buffer type_for_alias",
    }.items()
}
# numpy 1.x wrote its rebuilding functions under numpy.core.
_MOVED = {
    "numpy.core.multiarray": "numpy._core.multiarray",
    "numpy.core.numeric": "numpy._core.numeric",
}


def _home(module: str, name: str) -> tuple[str, str]:
    """Where ``module.name`` lives now: Python 2's names (protocols 0-2) and numpy's moves."""
    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return _MOVED.get(module, module), name


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names something that is not plain data; nothing was run."""


class _DataUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, allowed: dict[tuple[str, str], type]) -> None:
        super().__init__(file)
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._allowed:
            return self._allowed[module, name]
        home, name = _home(module, name)
        if name not in _SAFE.get(home, ()):
            raise UnsafePickleError(
                f"refused to load {module}.{name}: only builtin, datetime, numpy and "
                "pandas data types (and the dict's base_class_for_values) are read here"
            )
        return super().find_class(home, name)


def safe_loads(data: bytes | bytearray | memoryview, allowed: Iterable[type] = ()) -> Any:
    """The value pickled in ``data``, built only from plain data types and ``allowed``.

    Raises :class:`UnsafePickleError` (a ``pickle.UnpicklingError``) naming
    the first refused name, before importing or calling it.

    >>> safe_loads(pickle.dumps({"a": [1, 2.5]}))
    {'a': [1, 2.5]}
    >>> import os
    >>> safe_loads(pickle.dumps(os.getcwd))
    Traceback (most recent call last):
    ...
    persidict.safe_pickle.UnsafePickleError: refused to load posix.getcwd: ...
    """
    by_name = {(cls.__module__, cls.__qualname__): cls for cls in allowed}
    return _DataUnpickler(io.BytesIO(data), by_name).load()


__all__ = ["UnsafePickleError", "safe_loads"]

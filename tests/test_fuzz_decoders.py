"""Fuzzing what reads untrusted stores: the json decoder, the pickle check, the format guess, the
upstream-layout detection (hypothesis, seeded in the suite; ``scripts/soak`` runs them for longer).

Inputs are generated hostile documents (the shapes of the attacks: names to import, calls with
sizes, numbers of huge exponents, bombs of compressed bytes, dtypes of huge items, declared
shapes, deep nesting, BUILD on classes) and mutations of real stored values. For each input:
only the decoder's own error is raised; no module named by the input is imported (nor any
outside numpy/pandas); no attribute of a watched class changes; traced memory stays within
the decoder's budget plus a margin. Time is recorded (``FUZZ_STATS``), never asserted: the
suite's timeout catches a hang.
"""

from __future__ import annotations

import base64
import collections
import datetime
import decimal
import fractions
import json
import pickle
import sys
import tempfile
import time
import tracemalloc
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persidict.dicts.url import guess_format
from persidict.errors import LayoutError
from persidict.formats import FormatError, format_names, get_format
from persidict.formats.json_bounds import Budget
from persidict.formats.json_data import DATA_CLASSES, difference
from persidict.formats.numpy_json import NAMES as NUMPY_NAMES
from persidict.keys import part_digest
from persidict.safe_pickle import UnsafePickleError, pickled_class
from persidict.upstream_layout import upstream_digest_len

SLACK = 48 << 20  # traced memory beyond the budget: json.loads's own objects, numpy's caches
SUITE = settings(
    max_examples=1500,
    deadline=None,  # time is recorded, not asserted
    derandomize=True,  # seeded: the same inputs every run of the suite
    database=None,
    suppress_health_check=list(HealthCheck),
)
WATCHED = (collections.Counter, collections.OrderedDict, dict, list, fractions.Fraction, np.ndarray)
# Modules a decoding may import of its own (lazily, inside numpy and pandas).
OWN_ROOTS = {"numpy", "pandas", "pyarrow", "dateutil", "pytz", "tzdata", "_strptime", "encodings"}


@dataclass
class Stats:
    inputs: int = 0
    slowest: tuple[float, str] = (0.0, "")
    largest: tuple[int, str] = (0, "")
    kinds: collections.Counter = field(default_factory=collections.Counter)

    def record(self, seconds: float, peak: int, label: str, outcome: str) -> None:
        self.inputs += 1
        self.kinds[outcome] += 1
        self.slowest = max(self.slowest, (seconds, label))
        self.largest = max(self.largest, (peak, label))

    def summary(self, name: str) -> str:
        return (
            f"{name}: {self.inputs} inputs {dict(self.kinds)}; slowest {self.slowest[0]:.3f} s "
            f"({self.slowest[1][:120]}); largest traced peak {self.largest[0] / 2**20:.1f} MiB "
            f"({self.largest[1][:120]})"
        )


FUZZ_STATS: dict[str, Stats] = collections.defaultdict(Stats)


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    for name, stats in FUZZ_STATS.items():
        print(stats.summary(name))


def fuzz(strategy, check, examples: int = 1500, seeded: bool = True) -> None:
    """Run ``check`` on ``examples`` inputs drawn from ``strategy`` (the same ones if seeded)."""

    @settings(SUITE, max_examples=examples, derandomize=seeded)
    @given(strategy)
    def run(drawn):
        check(drawn)

    run()


def class_state() -> list[dict]:
    return [dict(vars(cls)) for cls in WATCHED]


def attempt(name: str, label: str, run, expected: tuple[type[BaseException], ...], bound: int):
    """Run ``run()``: only ``expected`` errors, nothing imported or changed, memory in ``bound``."""
    modules, classes = set(sys.modules), class_state()
    tracemalloc.start()  # traced only while the input is decoded: generating is not measured
    start = time.perf_counter()
    try:
        run()
        outcome = "decoded"
    except expected as exc:
        outcome = type(exc).__name__
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    FUZZ_STATS[name].record(seconds, peak, label, outcome)
    new = set(sys.modules) - modules
    assert not {m for m in new if m.partition(".")[0] not in OWN_ROOTS}, new
    assert not {m for m in new if m in label}, new  # nothing the input names
    assert class_state() == classes
    assert peak <= bound, f"{peak:,} bytes traced for {label[:200]}"


# ---- json: hostile documents and mutations of real values

HOSTILE_NAMES = [
    "numpy.f2py.__main__.X", "numpy.f2py", "numpy.testing.X", "pandas.io.clipboard.X",
    "pandas.core.frame.X", "os.system", "subprocess.Popen", "builtins.eval", "builtins.type",
    "builtins.getattr", "collections.Counter.most_common", "copyreg._reconstructor",
    "pyarrow.lib._restore_array", "numpy.memmap", "numpy.lib.format.open_memmap", "", ".",
    "not_a_module_fz.X", "zoneinfo.ZoneInfo._unpickle", "pathlib.Path",
]  # fmt: skip
NAMES = sorted(
    {*HOSTILE_NAMES, *DATA_CLASSES, *NUMPY_NAMES}
    | {"fractions.Fraction", "decimal.Decimal", "datetime.datetime", "collections.deque"}
    | {"collections.Counter", "collections.OrderedDict", "collections.defaultdict", "uuid.UUID"}
    | {"pandas.DataFrame", "pandas.Series", "pandas.Index", "pandas.core.frame.DataFrame"}
    | {"pandas.Timestamp", "pandas.Period", "pandas.Interval", "pandas.MultiIndex"}
)
NUMBER_TEXTS = ["1e2000000000", "1e-2000000000", "9" * 5000, "1/3", "NaN", "-Infinity", " 1_0 "]
DTYPES = [
    "float64", "uint8", "int64", "V8", "V2000000000", "O", "object", "<U1000000", "S0",
    "M8[ns]", "datetime64[D]", "[('a', 'O')]", "[('a', '<f8', (1048576, 1024))]",
    "{'names': ['a'], 'formats': ['O']}", "((", "[" * 300, "category", "Int64", "string",
]  # fmt: skip


@st.composite
def bomb_bytes(draw) -> str:
    """base64 of zlib data: small, or inflating to up to 256 MiB."""
    size = draw(st.sampled_from([0, 8, 1 << 20, 1 << 28]))
    return base64.b64encode(_zeros_zlib(size)).decode()


_ZLIB: dict[int, bytes] = {}


def _zeros_zlib(size: int) -> bytes:
    if size not in _ZLIB:
        _ZLIB[size] = zlib.compress(b"\0" * size, 9)
    return _ZLIB[size]


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([2**31, 2**40, 2**63, -1, 0])
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(NUMBER_TEXTS + DTYPES)
)


def tagged(children):
    names = st.sampled_from(NAMES)
    args = st.lists(children | scalars, max_size=3).map(lambda a: {"py/tuple": a})
    callee = names.map(lambda n: {"py/type": n}) | names.map(lambda n: {"py/function": n})
    shapes = st.lists(st.integers(-2, 2**40), max_size=3) | st.sampled_from([[2**40], [2**20] * 2])
    arrays = st.fixed_dictionaries(
        {
            "py/object": st.sampled_from(["numpy.ndarray", "pandas.core.frame.DataFrame"]),
            "dtype": st.sampled_from(DTYPES),
            "values": bomb_bytes() | st.lists(scalars, max_size=4),
        },
        optional={"shape": shapes, "comp": st.just(True), "txt": st.just(False)},
    )
    return st.one_of(
        arrays,
        st.fixed_dictionaries(
            {"py/object": names},
            optional={
                "py/newargs": args,
                "py/initargs": args,
                "py/state": children,
                "values": children | bomb_bytes() | st.lists(scalars, max_size=4),
                "dtype": st.sampled_from(DTYPES),
                "shape": shapes,
                "value": children | scalars,
                "base": children,
                "strides": shapes,
                "offset": st.integers(-8, 2**40),
                "__reduce__": st.lists(callee | children, max_size=3),
                "kind": st.sampled_from(["range", "multi", None]),
                "range": st.lists(st.integers(-(2**62), 2**62), max_size=3),
                "hex": scalars,
                "txt": st.booleans(),
                "comp": st.booleans(),
                "meta": children,
                "py/seq": st.lists(scalars, max_size=3),
                "default_factory": callee,
            },
        ),
        st.tuples(callee, args, children | st.none(), children | st.none()).map(
            lambda t: {"py/reduce": list(t)}
        ),
        callee,
        args,
        st.lists(scalars, max_size=4).map(lambda a: {"py/set": a}),
        bomb_bytes().map(lambda b: {"py/b64": b}),
        st.integers(-2, 40).map(lambda i: {"py/id": i}),
        st.sampled_from(["os", "os/os.system"]).map(lambda m: {"py/mod": m}),
        st.sampled_from(["os/os.getcwd()"]).map(lambda m: {"py/repr": m}),
        children.map(lambda c: {"py/iterator": [c]}),
        children.map(lambda c: {"json://" + json.dumps(c): 1}),
    )


documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=4), children, max_size=3)
        | tagged(children)
    ),
    max_leaves=25,
)

REAL_VALUES = [
    {"a": [1, 2.5, None, True], "b": ("t", 1)},
    collections.Counter("aab"),
    collections.OrderedDict(a=1),
    collections.deque([1, 2], maxlen=3),
    collections.defaultdict(list, a=[1]),
    datetime.datetime(2020, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),
    decimal.Decimal("1.10"),
    fractions.Fraction(1, 3),
    uuid.UUID(int=7),
    {1, 2},
    frozenset([3]),
    b"bytes",
    1j,
    np.arange(40, dtype="int32").reshape(5, 8),
    np.array([1.5, np.nan]),
    np.float64(2.5),
    np.datetime64("2020-01-01"),
    pd.DataFrame({"n": [1, 2], "s": ["x", "y"], "t": pd.date_range("2020", periods=2)}),
    pd.Series([1.5, None], name="s"),
    pd.Index(["a", "b"]),
    pd.Timestamp("2020-01-01", tz="UTC"),
]


def _real_trees() -> list:
    fmt = get_format("json")
    return [json.loads(fmt.encode(v)) for v in REAL_VALUES]


REAL_TREES = _real_trees()


def _nodes(tree, path=()):
    yield path
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _nodes(v, (*path, i))


def _replaced(tree, path, new):
    if not path:
        return new
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    copy[path[0]] = _replaced(tree[path[0]], path[1:], new)
    return copy


@st.composite
def mutated_real_values(draw) -> object:
    tree = draw(st.sampled_from(REAL_TREES))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_nodes(tree))))
        tree = _replaced(tree, path, draw(documents | scalars))
    return tree


@st.composite
def deep(draw) -> str:
    depth = draw(st.integers(1, 3000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"py/tuple": [', "]}"), ('{"a": ', "}")]))
    return opener * depth + "1" + closer * depth


def json_attempt(text: str | bytes) -> None:
    data = text if isinstance(text, bytes) else text.encode()
    fmt = get_format("json")
    bound = Budget(len(data)).limit + SLACK
    attempt(
        "json",
        data[:300].decode(errors="replace"),
        lambda: fmt.decode(data, "fuzz"),
        (FormatError,),
        bound,
    )


def test_json_decoder_on_hostile_documents():
    fuzz(documents, lambda doc: json_attempt(json.dumps(doc)), examples=1000)


def test_json_decoder_on_mutated_real_values():
    fuzz(mutated_real_values(), lambda doc: json_attempt(json.dumps(doc)), examples=1000)


def test_json_decoder_on_deep_nesting():
    fuzz(deep(), json_attempt, examples=100)


def test_json_decoder_reads_the_real_values_back():
    fmt = get_format("json")
    for value in REAL_VALUES:
        data = fmt.encode(value)
        json_attempt(data)
        assert not difference(value, fmt.decode(data))


# ---- pickle: mutated real pickles and generated opcode streams

REAL_PICKLES = [pickle.dumps(v, protocol=p) for v in REAL_VALUES for p in (0, 2, 4, 5)]
INTERESTING = [
    b"R", b"b", b"\x81", b"\x92", b"(", b"t", b")", b"}", b"]", b"s", b"u", b"a", b"e", b"h\x00",
    b"q\x00", b"\x94", b"0", b"1", b"2", b"N", b"\x85", b"\x86", b"\x87", b"P0\n", b"Q",
    b"\x82\x01", b"\x97", b"\x98", b".", b"\x93", b"\x8c\x01a", b"\x8a\x05\x00\x00\x00\x80\x00",
    b"ccollections\nCounter\n", b"cos\nsystem\n", b"cbuiltins\nbytearray\n",
    b"cpyarrow.lib\n_restore_array\n", b"cnumpy._core.multiarray\n_reconstruct\n",
    b"cnot_a_module_fz\nX\n", b"c__main__\nBase\n", b"ccopyreg\n_reconstructor\n",
    b"X\x0b\x00\x00\x00most_common", b"X\x0c\x00\x00\x001e2000000000",
]  # fmt: skip


@st.composite
def mutated_pickles(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(REAL_PICKLES)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "flip", "cut", "delete"]))
        if kind == "insert":
            data[where:where] = draw(st.sampled_from(INTERESTING))
        elif kind == "flip" and where < len(data):
            data[where] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[where:]
        else:
            del data[where : where + draw(st.integers(1, 8))]
    return bytes(data)


generated_pickles = st.lists(st.sampled_from(INTERESTING), max_size=30).map(
    lambda ops: b"\x80\x04" + b"".join(ops) + b"."
)


def pickle_attempt(data: bytes) -> None:
    attempt("pickle", data.hex(), lambda: pickled_class(data), (UnsafePickleError,), 1 << 20)


def test_pickle_check_on_mutated_real_pickles():
    fuzz(mutated_pickles(), pickle_attempt)


def test_pickle_check_on_generated_opcode_streams():
    fuzz(generated_pickles, pickle_attempt)


def test_pickle_check_judges_the_real_pickles_exactly():
    for value in REAL_VALUES:
        for protocol in (0, 2, 4, 5):
            cls, exact = pickled_class(pickle.dumps(value, protocol=protocol))
            assert isinstance(value, cls) and (exact == (cls is type(value)))


# ---- the format guess and the upstream-layout detection on generated folders

NAME_CHARS = st.characters(exclude_characters="/\0", exclude_categories=("Cs",))
EXTENSIONS = [".pkl", ".json", ".txt", ".npy", ".parquet", "", ".md", ".tmp", ".pkl.bak"]


folder_files = st.lists(
    st.tuples(st.text(NAME_CHARS, min_size=1, max_size=12), st.sampled_from(EXTENSIONS)), max_size=8
)


def test_format_guess_on_generated_folders():
    fuzz(folder_files, guess_in_a_folder, examples=300)


def guess_in_a_folder(files: list) -> None:
    with tempfile.TemporaryDirectory() as folder:
        made = set()
        for stem, ext in files:
            name = (stem + ext).encode()[:250].decode(errors="ignore")
            if name in (".", "..", "") or name.startswith(".#"):
                continue
            try:
                Path(folder, name).write_bytes(b"x")
                made.add(name)
            except (IsADirectoryError, OSError):
                continue

        def guess() -> None:
            found = guess_format(folder)
            assert found in format_names(), found

        attempt("format guess", repr(files), guess, (), 8 << 20)


def _upstream_part(word: str) -> str:
    return f"{word}_{part_digest(word, 4)}"


layout_entries = st.lists(
    st.tuples(
        st.sampled_from(["theirs", "ours", "stray-dir", "stray-file", "hidden", "empty-dir"]),
        st.lists(st.text("abcXYZ019_-", min_size=1, max_size=6), min_size=1, max_size=3),
    ),
    max_size=10,
)


def test_layout_detection_on_generated_folders():
    fuzz(st.tuples(layout_entries, st.sampled_from([".pkl", ".json"])), detect_layout, examples=300)


def detect_layout(drawn: tuple) -> None:
    entries, ext = drawn
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        kinds = set()
        for kind, words in entries:
            if kind not in ("theirs", "ours"):
                continue
            parts = [_upstream_part(w) for w in words] if kind == "theirs" else list(words)
            if kind == "ours" and all(_upstream_part(w.rpartition("_")[0]) == w for w in words):
                continue  # a name of ours that happens to be signed
            path = root.joinpath(*parts[:-1], parts[-1] + ext)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")
            except OSError:  # a file where a folder is needed: not made
                continue
            kinds.add(kind)

        def decide():
            try:
                return upstream_digest_len(folder, ext)
            except LayoutError:
                return "mixed"

        expected = "mixed" if len(kinds) == 2 else (4 if kinds == {"theirs"} else None)
        verdicts = []
        attempt("layout", repr(entries), lambda: verdicts.append(decide()), (), 1 << 20)
        assert verdicts == [expected]
        for kind, words in entries:  # strays anywhere change nothing
            target = root.joinpath(*words)
            try:
                if kind in ("stray-dir", "empty-dir"):
                    target.mkdir(parents=True, exist_ok=True)
                elif kind == "stray-file":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.with_name(target.name + ".txt").write_bytes(b"x")
                elif kind == "hidden":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.with_name(".#" + target.name + ext).write_bytes(b"x")
            except OSError:
                continue
        assert decide() == expected


# ---- long runs: scripts/soak

SOAKED = {
    "json-hostile": (documents, lambda doc: json_attempt(json.dumps(doc))),
    "json-mutated": (mutated_real_values(), lambda doc: json_attempt(json.dumps(doc))),
    "json-deep": (deep(), json_attempt),
    "pickle-mutated": (mutated_pickles(), pickle_attempt),
    "pickle-generated": (generated_pickles, pickle_attempt),
    "format-guess": (folder_files, guess_in_a_folder),
    "layout": (st.tuples(layout_entries, st.sampled_from([".pkl", ".json"])), detect_layout),
}


@pytest.mark.soak
@pytest.mark.parametrize("name", sorted(SOAKED))
def test_fuzzers_for_the_whole_time(name, soak_seconds):
    """Each fuzzer, unseeded, batch after batch of 2,000 inputs until the time is up."""
    strategy, check = SOAKED[name]
    end = time.monotonic() + soak_seconds
    while time.monotonic() < end:
        fuzz(strategy, check, examples=2000, seeded=False)

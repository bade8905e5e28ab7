"""Crafted store contents that got through the first round's defences, each refused or harmless.

Every attack runs in a fresh process (``isolated``): one that still worked
could import a module that exits, crash, hang or grow by gigabytes, and
must not take the test process with it. The child reports what it saw
(an error, which modules got imported, its peak RSS growth) as JSON.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

PERSIDICT = str(Path(sys.executable).with_name("persidict"))
GROWTH_MB = 200  # what a refused payload may add to a process's peak RSS

F2PY = b'{"py/object": "numpy.f2py.__main__.X"}'


def isolated(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter; the JSON it prints last (its exit must be 0)."""
    prelude = textwrap.dedent(
        """
        import json, resource, sys
        def peak_mb():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        def report(**seen):
            print(json.dumps(seen))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), *args],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, f"exit {run.returncode}: {run.stdout[-500:]} {run.stderr[-2000:]}"
    return json.loads(run.stdout.strip().splitlines()[-1])


# ---- 1. json named a module under numpy/pandas, which the decoder imported first


def test_a_json_name_under_numpy_is_never_imported_by_d_k(tmp_path):
    (tmp_path / "k.json").write_bytes(F2PY)
    seen = isolated(
        """
        from persidict import FileDirDict, FormatError
        try:
            FileDirDict(sys.argv[1], "json")["k"]
            error = None
        except FormatError as exc:
            error = str(exc)
        report(error=error, imported="numpy.f2py" in sys.modules)
        """,
        str(tmp_path),
    )
    assert seen == {"error": seen["error"], "imported": False}
    assert "refused to decode py/object 'numpy.f2py.__main__.X'" in seen["error"]
    assert str(tmp_path / "k.json") in seen["error"]


def test_persidict_get_refuses_the_name_instead_of_running_f2py(tmp_path):
    (tmp_path / "k.json").write_bytes(F2PY)
    run = subprocess.run(
        [PERSIDICT, "get", str(tmp_path), "k"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode != 0 and "usage" not in (run.stdout + run.stderr).lower()
    assert "refused to decode py/object 'numpy.f2py.__main__.X'" in run.stderr


def test_the_view_refuses_the_name_and_stores_nothing(tmp_path):
    seen = isolated(
        """
        from persidict import FileDirDict, FormatError
        from persidict_fs import PersiDictFileSystem
        d = FileDirDict(sys.argv[1], "json")
        try:
            PersiDictFileSystem(dict=d).pipe_file("k.json", sys.argv[2].encode())
            error = None
        except FormatError as exc:
            error = str(exc)
        report(error=error, imported="numpy.f2py" in sys.modules, stored="k" in d)
        """,
        str(tmp_path),
        F2PY.decode(),
    )
    assert seen["error"] and not seen["imported"] and not seen["stored"]


# ---- 2. the base-class check of the view unpickled: crashes and class attributes set

BUILD_ON_CLASSES = (
    # [Counter with BUILD (None, {"most_common": bytes}), Base with BUILD (None, {"injected": 1})]
    b"\x80\x02]q\x00(ccollections\nCounter\nN}X\x0b\x00\x00\x00most_commonc__builtin__\nbytes\n"
    b"s\x86bc__main__\nBase\nN}X\x08\x00\x00\x00injectedK\x01s\x86be."
)


def arrow_crash() -> bytes:
    """list(pyarrow array of an 8-byte buffer declared as 2**40 int64): unpickled, a segfault."""
    import pyarrow as pa

    class Calls:
        def __init__(self, func, *args):
            self.func, self.args = func, args

        def __reduce__(self):
            return (self.func, self.args)

    data = (pa.int64(), 2**40, 0, [None, pa.py_buffer(b"\0" * 8)], [], 0, None)
    return pickle.dumps(Calls(list, Calls(pa.lib._restore_array, data)), protocol=2)


VIEW_CHECK = """
    import pickle
    from persidict import FileDirDict, FormatError
    from persidict_fs import PersiDictFileSystem
    class Base: pass
    import collections, fractions
    most_common = collections.Counter.most_common
    base = {"list": list, "dict": dict, "Base": Base, "Fraction": fractions.Fraction,
            "bytearray": bytearray}[sys.argv[2]]
    d = FileDirDict(sys.argv[1], "pkl", base_class_for_values=base)
    before = peak_mb()
    try:
        PersiDictFileSystem(dict=d).pipe_file("k.pkl", bytes.fromhex(sys.argv[3]))
        error = None
    except (FormatError, TypeError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    report(error=error, stored="k" in d, growth_mb=peak_mb() - before,
           counter_intact=collections.Counter.most_common is most_common,
           base_intact=not hasattr(Base, "injected"), pyarrow="pyarrow" in sys.modules)
"""


def test_a_pickle_that_crashes_when_loaded_is_judged_without_loading(tmp_path):
    evil = arrow_crash().hex()
    refused = isolated(VIEW_CHECK, str(tmp_path / "a"), "dict", evil)
    assert refused["error"].startswith("TypeError") and "is a list" in refused["error"]
    assert not refused["stored"] and not refused["pyarrow"]  # pyarrow was not even imported
    kept = isolated(VIEW_CHECK, str(tmp_path / "b"), "list", evil)
    assert kept["error"] is None and kept["stored"]  # a list, as its opcodes say; never built


def test_build_on_a_class_sets_nothing(tmp_path):
    seen = isolated(VIEW_CHECK, str(tmp_path), "Base", BUILD_ON_CLASSES.hex())
    assert seen["error"].startswith("TypeError") and not seen["stored"]
    assert seen["counter_intact"] and seen["base_intact"]


# ---- 3. bombs: tiny values that take forever or gigabytes

FRACTION_PICKLE = b"cfractions\nFraction\nX\x0c\x00\x00\x001e2000000000\x85R."
BYTEARRAY_PICKLE = b"cbuiltins\nbytearray\n\x8a\x05\x00\x00\x00\x80\x00\x85R."


@pytest.mark.parametrize(
    ("base", "data"),
    [("Fraction", FRACTION_PICKLE), ("bytearray", BYTEARRAY_PICKLE)],
    ids=["fraction-1e2000000000", "bytearray-2GiB"],
)
def test_a_pickle_bomb_is_judged_without_being_built(tmp_path, base, data):
    assert len(data) <= 45
    seen = isolated(VIEW_CHECK, str(tmp_path), base, data.hex())
    assert seen["error"] is None and seen["stored"] and seen["growth_mb"] < GROWTH_MB


def big_inflating_document() -> bytes:
    """About 1 MB of json whose base64 inflates to 1 GiB of zeros (no shape declared)."""
    raw = zlib.compress(b"\0" * (1 << 30), 9)
    doc = {"py/object": "numpy.ndarray", "dtype": "uint8", "values": base64.b64encode(raw).decode()}
    return json.dumps(doc).encode()


JSON_BOMBS = {
    "fraction": (
        b'{"py/reduce": [{"py/type": "fractions.Fraction"}, {"py/tuple": ["1e2000000000"]}]}'
    ),
    "decimal": b'{"py/reduce": [{"py/type": "decimal.Decimal"}, {"py/tuple": ["1e2000000000"]}]}',
    "bytearray": b'{"py/reduce": [{"py/type": "builtins.bytearray"}, {"py/tuple": [2147483648]}]}',
    "bytearray-initargs": (
        b'{"py/object": "builtins.bytearray", "py/initargs": {"py/tuple": [2147483648]}}'
    ),
    "list-of-range": (
        b'{"py/reduce": [{"py/type": "builtins.list"}, {"py/tuple": [{"py/reduce": '
        b'[{"py/type": "builtins.range"}, {"py/tuple": [0, 1000000000, 1]}]}]}]}'
    ),
    "void-scalar": b'{"py/object": "numpy.void", "dtype": "V8", "value": 2147483648}',
    "huge-dtype": b'{"py/object": "numpy.ndarray", "dtype": "V2000000000", "values": [1, 2]}',
    "declared-shape": (
        b'{"py/object": "numpy.ndarray", "dtype": "float64", "shape": [1073741824], '
        b'"values": "eJwDAAAAAAE="}'
    ),
    "range-index": (
        b'{"py/object": "pandas.Index", "kind": "range", "name": null, '
        b'"range": [0, 100000000000000, 1]}'
    ),
    "datetime-handler": (
        b'{"py/object": "datetime.datetime", "__reduce__": '
        b'[{"py/type": "builtins.bytearray"}, [2147483648]]}'
    ),
}


@pytest.mark.parametrize("name", [*sorted(JSON_BOMBS), "inflating-base64"])
def test_a_json_bomb_is_refused_within_bounded_memory(tmp_path, name):
    data = JSON_BOMBS[name] if name in JSON_BOMBS else big_inflating_document()
    (tmp_path / "k.json").write_bytes(data)
    seen = isolated(
        """
        import numpy, pandas  # imported before measuring: their own size is not the bomb's
        from persidict import FileDirDict, FormatError
        d = FileDirDict(sys.argv[1], "json")
        before = peak_mb()
        try:
            d["k"]
            error = None
        except FormatError as exc:
            error = str(exc).replace(sys.argv[1], "<store>")
        report(error=error, growth_mb=peak_mb() - before)
        """,
        str(tmp_path),
    )
    assert seen["error"] and "refused" in seen["error"], seen
    assert seen["growth_mb"] < GROWTH_MB


def test_a_huge_run_length_of_dtypes_costs_nothing():
    """The reference's frame encoding gives column dtypes as (code, count) runs: 10**12 of one."""
    from persidict.formats import get_format

    data = (
        b'{"py/object": "pandas.core.frame.DataFrame", "values": "{\\"a\\": [1]}", "txt": true, '
        b'"meta": {"dtypes_rle": [["i", 1000000000000]], "columns": "[\\"a\\"]", "index": "[0]"}}'
    )
    assert get_format("json").decode(data).to_dict("list") == {"a": [1]}


def test_a_big_array_that_compresses_too_well_is_written_uncompressed(tmp_path):
    import numpy as np

    from persidict import FileDirDict

    d = FileDirDict(tmp_path, "json")
    d["zeros"] = zeros = np.zeros(3_000_000)  # 24 MB, compressing 1000-fold
    assert (d["zeros"] == zeros).all() and d["zeros"].dtype == zeros.dtype
    stored = os.path.getsize(tmp_path / "zeros.json")
    assert zeros.nbytes < 64 * stored  # within what a reader accepts from a document
    assert stored < 1.4 * zeros.nbytes  # base64 of zlib's stored blocks


# ---- a check that crashes anyway costs one write of the mount, never the mount


def _crashing_check(data: bytes) -> None:
    """A format check with a bug in C code, as numpy's or pandas' could have: a segfault."""
    if data == b"crash":
        import resource
        import signal

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.kill(os.getpid(), signal.SIGSEGV)


def _text(data: bytes) -> str:
    return data.decode()


def test_a_crash_in_the_mounts_check_fails_that_write_only(tmp_path):
    from persidict import FileDirDict, FormatError
    from persidict.formats import Format
    from persidict_fs.mount import view_of

    crashy = Format("crashy", ".crashy", str.encode, _text, _crashing_check)
    d = FileDirDict(tmp_path, crashy)
    fs, _ = view_of(d)  # the view the mount serves
    try:
        with pytest.raises(FormatError, match="crashed the checking process"):
            fs.pipe_file("k.crashy", b"crash")
        assert "k" not in d
        fs.pipe_file("k.crashy", b"fine")  # a new checking process
        assert d["k"] == "fine"
    finally:
        fs.isolated_checks.close()

"""Type checkers see real types: dicts generic in their values, key tuples out, S3Dict a class.

mypy checks a small user script; the revealed types and the errors it must
report are asserted line by line.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

USER_SCRIPT = """\
from persidict import FileDirDict, LocalDict, PersiDict, S3Dict, WriteOnceDict

d: FileDirDict[int] = FileDirDict(base_dir="folder")
d["k"] = 1
d["a", "b"] = 2
reveal_type(d["k"])
reveal_type(d.get("k"))
reveal_type(next(iter(d)))
reveal_type(d.items())
d["k"] = "not an int"
d.not_a_method()
s: S3Dict[str] = S3Dict(bucket_name="bucket")
reveal_type(s["a", "b"])
s.not_a_method()
m: PersiDict[float] = LocalDict()
reveal_type(m.setdefault("k", 1.5))
w: WriteOnceDict[int] = WriteOnceDict(wrapped_dict=FileDirDict(base_dir="f", append_only=True))
reveal_type(w["k"])
"""

# line number -> what mypy must say there
EXPECTED = {
    6: 'Revealed type is "int"',
    7: 'Revealed type is "int | None"',
    8: 'Revealed type is "persidict.safe_str_tuple.NonEmptySafeStrTuple"',
    9: "ItemsView[persidict.safe_str_tuple.NonEmptySafeStrTuple, int]",
    10: 'Incompatible types in assignment (expression has type "str", target has type "int |',
    11: '"FileDirDict[int]" has no attribute "not_a_method"',
    13: 'Revealed type is "str"',
    14: '"S3Dict[str]" has no attribute "not_a_method"',
    16: 'Revealed type is "float"',
    18: 'Revealed type is "int"',
}


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory) -> dict[int, str]:
    folder = tmp_path_factory.mktemp("typing")
    (folder / "user.py").write_text(USER_SCRIPT)
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--show-error-codes",
         "--cache-dir", str(ROOT / ".mypy_cache"), "--config-file", str(ROOT / "pyproject.toml"),
         str(folder / "user.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )
    said: dict[int, str] = {}
    for line in run.stdout.splitlines():
        if m := re.match(r".*user\.py:(\d+): (?:error|note): (.*)", line):
            # mypy < 2 spells builtins in full ("builtins.int")
            said[int(m[1])] = said.get(int(m[1]), "") + m[2].replace("builtins.", "")
    assert said, run.stdout + run.stderr
    return said


@pytest.mark.parametrize("line", sorted(EXPECTED))
def test_mypy_says_what_a_user_expects(mypy_output, line):
    assert EXPECTED[line] in mypy_output.get(line, ""), mypy_output


def test_mypy_reports_nothing_else(mypy_output):
    assert set(mypy_output) == set(EXPECTED), mypy_output


def test_both_packages_ship_py_typed():
    assert (ROOT / "persidict" / "py.typed").is_file()
    assert (ROOT / "persidict_fs" / "py.typed").is_file()

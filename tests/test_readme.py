"""The README's quick-start example runs unchanged and prints what it says."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def quick_start_code() -> str:
    section = README.read_text().split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_quick_start_prints_six_keys_and_a_fresh_object_sees_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(quick_start_code(), "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert len(lines) == 6
    assert "['Eliza', 'year'] == 1965" in lines
    assert "['Shoebox', 'authors'] == ['W.C. Dersch', 'E.A. Quade']" in lines

    from persidict import FileDirDict

    assert len(FileDirDict(dir_name="my_folder")) == 6

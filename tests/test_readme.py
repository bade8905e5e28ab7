"""The README's quick-start example runs unchanged and prints what it says."""

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def python_blocks() -> list[tuple[int, str]]:
    """Every ```python block of the README, with the line it starts on."""
    text = README.read_text()
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)
    ]


def test_the_readme_has_python_blocks_to_run():
    assert len(python_blocks()) >= 6


@pytest.mark.parametrize(
    "line, code", python_blocks(), ids=[f"README.md:{n}" for n, _ in python_blocks()]
)
def test_every_readme_python_block_runs_alone_as_a_script(line, code, tmp_path, s3_options):
    """Each block, as written, is a script of its own in a fresh folder; S3 is a moto server."""
    script = tmp_path / "snippet.py"
    script.write_text(code)
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": s3_options["endpoint_url"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stderr[-3000:]}"
    if 'print(open("mnt/Eliza/year.json").read())' in code:
        assert done.stdout == "1965\n"  # what its comment says

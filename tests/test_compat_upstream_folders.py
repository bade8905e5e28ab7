"""Folders written by persidict 0.309.0 (installed from PyPI in a virtualenv of its own) read here.

scripts/setup-venv builds that virtualenv once (``.venv-upstream``); this test
builds it if it is missing. The reference writes with its defaults (pkl
values lz4-compressed by joblib, json values through jsonpickle's numpy and
pandas handlers, a 4-character digest on every path part); a FileDirDict
opened here with the defaults reads every key and value, and what it writes
there reads back in the reference.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from persidict import FileDirDict, LayoutError

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_VENV = ROOT / ".venv-upstream"
UPSTREAM = "persidict==0.309.0"


def upstream_python() -> Path:
    """The python of a virtualenv holding persidict 0.309.0 (built when missing)."""
    python = UPSTREAM_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run(["python3", "-m", "venv", str(UPSTREAM_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", UPSTREAM],
            check=True,
        )
    return python


def run_upstream(code: str, *args: str) -> str:
    """Run ``code`` in the reference's virtualenv, away from this tree; its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [str(upstream_python()), "-c", textwrap.dedent(code), *args],
        cwd="/", env=env, capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


WRITE = """
    import sys
    import numpy as np, pandas as pd
    import persidict
    from persidict import FileDirDict
    assert persidict.__version__ == "0.309.0", persidict.__file__
    for folder, fmt in ((sys.argv[1], "pkl"), (sys.argv[2], "json")):
        d = FileDirDict(base_dir=folder, serialization_format=fmt)
        d["Eliza"] = "MIT Eliza was a mock Rogerian psychotherapist."
        d["Eliza", "year"] = 1965
        d["Eliza", "authors"] = ["Joseph Weizenbaum", "George Bernard Shaw"]
        d["CaseKey"] = 1
        d["casekey"] = 2
        d["deep", "er", "x"] = {"a": [1, 2.5, None], "b": (1, "t")}
        d["array"] = np.arange(12, dtype="int32").reshape(3, 4)
        d["frame"] = pd.DataFrame({"n": [1, 2, 3], "s": ["x", "y", "z"]})
"""

READ_BACK = """
    import json, sys
    from persidict import FileDirDict
    d = FileDirDict(base_dir=sys.argv[1], serialization_format=sys.argv[2])
    print(json.dumps({"/".join(k): repr(d[k]) for k in d.keys()}))
"""


@pytest.fixture(scope="module")
def upstream_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("upstream")
    pkl, js = root / "pkl", root / "json"
    run_upstream(WRITE, str(pkl), str(js))
    return pkl, js


def check_values(d: FileDirDict) -> None:
    assert sorted(d.keys()) == sorted([
        ("Eliza",), ("Eliza", "year"), ("Eliza", "authors"), ("CaseKey",), ("casekey",),
        ("deep", "er", "x"), ("array",), ("frame",),
    ])
    assert d["Eliza"] == "MIT Eliza was a mock Rogerian psychotherapist."
    assert d["Eliza", "year"] == 1965 and d["CaseKey"] == 1 and d["casekey"] == 2
    assert d["Eliza", "authors"] == ["Joseph Weizenbaum", "George Bernard Shaw"]
    assert d["deep", "er", "x"] == {"a": [1, 2.5, None], "b": (1, "t")}
    array = d["array"]
    assert isinstance(array, np.ndarray) and array.dtype == np.int32
    assert (array == np.arange(12).reshape(3, 4)).all()
    frame = d["frame"]  # its dtypes are what the reference's pandas version made
    assert isinstance(frame, pd.DataFrame)
    assert frame.to_dict("list") == {"n": [1, 2, 3], "s": ["x", "y", "z"]}


@pytest.mark.parametrize("fmt", ["pkl", "json"])
def test_a_folder_the_reference_wrote_reads_with_the_defaults(upstream_folders, fmt):
    folder = upstream_folders[0] if fmt == "pkl" else upstream_folders[1]
    assert (folder / "Eliza_mod7" / f"year_qtg4.{fmt}").is_file()  # the reference's names
    d = FileDirDict(base_dir=folder, serialization_format=fmt)
    assert d.digest_len == 4
    check_values(d)


@pytest.mark.parametrize("fmt", ["pkl", "json"])
def test_what_we_write_in_the_reference_folder_reads_back_there(upstream_folders, fmt):
    folder = upstream_folders[0] if fmt == "pkl" else upstream_folders[1]
    d = FileDirDict(base_dir=folder, serialization_format=fmt)
    d["written", "here"] = {"n": 7}
    d["Eliza", "year"] = 1966
    seen = json.loads(run_upstream(READ_BACK, str(folder), fmt))
    assert seen["written/here"] == "{'n': 7}" and seen["Eliza/year"] == "1966"
    assert len(seen) == 9 and seen["casekey"] == "2"
    del d["written", "here"]
    d["Eliza", "year"] = 1965


def test_a_new_folder_keeps_paths_exactly_the_key(tmp_path):
    d = FileDirDict(base_dir=tmp_path)
    d["Eliza", "year"] = 1965
    assert d.digest_len == 0 and (tmp_path / "Eliza" / "year.pkl").is_file()
    assert FileDirDict(base_dir=tmp_path).digest_len == 0  # ours stays ours on reopening


def test_a_folder_with_one_unsigned_name_is_not_taken_for_the_reference(tmp_path):
    (tmp_path / "Eliza_mod7").mkdir()
    (tmp_path / "notes.pkl").write_bytes(b"")
    assert FileDirDict(base_dir=tmp_path).digest_len == 0



LIST_KEYS = """
    import json, sys
    from persidict import FileDirDict
    d = FileDirDict(base_dir=sys.argv[1], serialization_format=sys.argv[2])
    print(json.dumps(["/".join(k) for k in d.keys()]))
"""


def test_stray_folders_and_files_do_not_change_the_layout(upstream_folders, tmp_path):
    folder = tmp_path / "json"
    shutil.copytree(upstream_folders[1], folder)
    (folder / "tmp").mkdir()  # the stray folder that used to flip the layout
    (folder / "tmp" / "notes.txt").write_text("x")
    (folder / "README.md").write_text("x")
    (folder / "empty_dir").mkdir()
    d = FileDirDict(base_dir=folder, serialization_format="json")
    assert d.digest_len == 4 and d["Eliza", "year"] == 1965
    assert ("Eliza", "year") in set(d.keys()) and ("Eliza_mod7", "year_qtg4") not in set(d.keys())
    d["Eliza", "year"] = 1966
    assert (folder / "Eliza_mod7" / "year_qtg4.json").is_file()
    assert not (folder / "Eliza").exists()
    keys = json.loads(run_upstream(LIST_KEYS, str(folder), "json"))
    assert keys.count("Eliza/year") == 1


def test_key_files_of_both_layouts_are_an_error_naming_the_folder(upstream_folders, tmp_path):
    folder = tmp_path / "pkl"
    shutil.copytree(upstream_folders[0], folder)
    (folder / "mine.pkl").write_bytes(pickle.dumps(1))  # a key of ours: no digest
    with pytest.raises(LayoutError, match=re.escape(str(folder))):
        FileDirDict(base_dir=folder)
    assert FileDirDict(base_dir=folder, digest_len=4)["Eliza", "year"] == 1965
    assert FileDirDict(base_dir=folder, digest_len=0)["mine"] == 1


def test_an_open_dict_keeps_its_layout_whatever_is_added_later(tmp_path):
    d = FileDirDict(base_dir=tmp_path)
    (tmp_path / "Eliza_mod7").mkdir()
    (tmp_path / "Eliza_mod7" / "year_qtg4.pkl").write_bytes(pickle.dumps(1965))
    d["Eliza", "year"] = 1966  # still the path exactly the key
    assert (tmp_path / "Eliza" / "year.pkl").is_file() and d["Eliza", "year"] == 1966
    with pytest.raises(LayoutError):  # reopened, the folder now holds both layouts
        FileDirDict(base_dir=tmp_path)

"""Opening, listing and reading a local store write nothing; a read-only folder opens for anyone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

from persidict import FileDirDict
from persidict.dicts.file_dir import is_case_insensitive

AUDIT = textwrap.dedent(
    """
    import json, os, sys
    from persidict import FileDirDict

    root = sys.argv[1]
    FileDirDict(root + "-warm")["warm", "up"] = 1  # lazy imports happen here, not below
    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    WRITES = {"os.mkdir", "os.remove", "os.rmdir", "os.rename", "os.link", "os.symlink",
              "os.truncate", "os.utime", "os.chmod", "os.chown", "shutil.rmtree"}
    seen = []

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if (mode and any(c in mode for c in "wax+")) or (flags or 0) & WRITE_FLAGS:
                seen.append([event, str(path)])
        elif event in WRITES:
            seen.append([event, str(args[0])])

    sys.addaudithook(hook)
    d = FileDirDict(root)
    keys = sorted(d)
    values = [d[k] for k in keys]
    facts = [len(d), ("a", "b") in d, "absent" in d, d.get("absent", 0)]
    sub = d.get_subdict("a")
    values += [sub[k] for k in sub]
    print(json.dumps({"writes": seen, "keys": [list(k) for k in keys], "facts": facts}))
    """
)


def test_opening_listing_and_reading_write_nothing(tmp_path):
    root = tmp_path / "store"
    d = FileDirDict(root)
    d["a", "b"] = 1
    d["c"] = "x"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", AUDIT, str(root)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["keys"] == [["a", "b"], ["c"]] and report["facts"] == [2, True, False, 0]
    assert report["writes"] == []


def test_the_case_probe_writes_nothing_and_sees_a_case_sensitive_folder(tmp_path):
    (tmp_path / "Some").mkdir()
    before = sorted(os.listdir(tmp_path))
    assert is_case_insensitive(str(tmp_path)) is False
    assert is_case_insensitive(str(tmp_path / "Some")) is False  # no entries: its own name
    assert sorted(os.listdir(tmp_path)) == before


READ_AS_NOBODY = textwrap.dedent(
    """
    import os, sys
    from persidict import FileDirDict

    FileDirDict(sys.argv[2])["warm", "up"] = 1  # lazy imports, while still root
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    d = FileDirDict(sys.argv[1])
    print(sorted(tuple(k) for k in d), d["a", "b"], len(d), d.get("absent", "none"))
    try:
        d["new"] = 1
    except PermissionError as exc:
        print("refused", exc.filename)
    """
)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_a_read_only_folder_opens_and_reads_for_an_unprivileged_user(tmp_path):
    top = tempfile.mkdtemp(prefix="persidict-ro-", dir="/tmp")  # tmp_path is root-only
    try:
        os.chmod(top, 0o755)
        root = os.path.join(top, "store")
        d = FileDirDict(root)
        d["a", "b"] = 1
        d["c"] = "x"
        for folder, _, files in os.walk(root):
            os.chmod(folder, 0o555)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o444)
        out = subprocess.run(
            [sys.executable, "-c", READ_AS_NOBODY, root, str(tmp_path / "warm")],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0] == "[('a', 'b'), ('c',)] 1 2 none"
        assert lines[1].startswith("refused " + root)
    finally:
        for folder, _, _ in os.walk(top):
            os.chmod(folder, 0o755)
        shutil.rmtree(top)

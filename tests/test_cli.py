"""The persidict command line, run as a user would: a subprocess per command."""

from __future__ import annotations

import json
import os
import pickle
import pty
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from persidict import open_dict
from tests.waiting import wait_for

PERSIDICT = str(Path(sys.executable).with_name("persidict"))  # the installed console script
COMMANDS = ["ls", "get", "set", "rm", "cp", "info", "mount", "umount"]
# The server's last log line; the FUSE loop's "stopping the mount ... (unmounted)" comes before it.
SERVER_EXIT = "persidict_fs.mount: unmounted "


def run(*args: str, input: str | None = None, env: dict | None = None, check: bool = True):
    done = subprocess.run(
        [PERSIDICT, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    if check and done.returncode:
        raise AssertionError(f"persidict {args} failed: {done.stderr}")
    return done


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """(url, extra args) for an empty store on each shared backend."""
    if request.param == "local":
        return str(tmp_path / "store"), []
    options = request.getfixturevalue("s3_options")
    url = f"s3://persidict-tests/cli-{uuid.uuid4().hex[:8]}"
    return url, ["--endpoint-url", options["endpoint_url"]]


def test_help_everywhere():
    assert "usage: persidict" in run("--help").stdout
    for command in COMMANDS:
        assert f"usage: persidict {command}" in run(command, "--help").stdout


def test_set_get_ls_rm_round_trip(store):
    url, extra = store
    run("set", url, "Eliza/year", "1965", "-f", "json", *extra)
    run("set", url, "Eliza/authors", '["Joseph Weizenbaum"]', *extra)
    run("set", url, "Shoebox", "IBM Shoebox", *extra, input=None)
    assert run("ls", url, *extra).stdout.split() == ["Eliza/authors", "Eliza/year", "Shoebox"]
    assert run("ls", url, "Eliza", *extra).stdout.split() == ["Eliza/authors", "Eliza/year"]
    assert run("get", url, "Eliza/year", *extra).stdout == "1965\n"
    assert run("get", url, "Shoebox", *extra).stdout == "IBM Shoebox\n"
    run("rm", url, "Eliza/year", *extra)
    assert run("ls", url, *extra).stdout.split() == ["Eliza/authors", "Shoebox"]


def test_set_reads_the_value_from_stdin(tmp_path):
    url = str(tmp_path / "store")
    run("set", url, "doc", "-f", "txt", input="line one\nline two\n")
    assert open_dict(url, "txt")["doc"] == "line one\nline two"
    run("set", url, "raw", "-f", "txt", input="x")
    assert run("get", url, "raw").stdout == "x\n"


def test_info_gives_count_size_and_format(tmp_path):
    d = open_dict(str(tmp_path / "store"), "json")
    d.setitems({"a": 1, ("b", "c"): [1, 2]})
    out = run("info", str(tmp_path / "store")).stdout
    size = sum(os.path.getsize(p) for p in (tmp_path / "store").rglob("*.json"))
    assert "format: json" in out and "keys:   2" in out and f"bytes:  {size}" in out


def test_cp_copies_a_whole_store_to_s3_without_progress_off_a_terminal(tmp_path, s3_options):
    src = open_dict(str(tmp_path / "src"), "json")
    src.setitems({("k", str(i)): i for i in range(300)})  # more than one batch
    dst = f"s3://persidict-tests/cp-{uuid.uuid4().hex[:8]}"
    done = run("cp", str(tmp_path / "src"), dst, "--endpoint-url", s3_options["endpoint_url"])
    assert "\r" not in done.stderr and "copied 300 keys" in done.stderr
    copy = open_dict(dst, "json", **s3_options)
    assert dict(copy.items()) == dict(src.items())


def test_cp_shows_progress_on_a_terminal(tmp_path):
    open_dict(str(tmp_path / "src"), "pkl").setitems({str(i): i for i in range(300)})
    leader, follower = pty.openpty()
    subprocess.run(
        [PERSIDICT, "cp", str(tmp_path / "src"), str(tmp_path / "dst")],
        stderr=follower,
        check=True,
        timeout=120,
    )
    os.close(follower)
    shown = os.read(leader, 65536).decode()
    os.close(leader)
    assert "\rcopied 256/300 keys" in shown and "\rcopied 300/300 keys" in shown
    assert len(open_dict(str(tmp_path / "dst"))) == 300


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["get", "{store}", "missing/key"], "no key 'missing/key'"),
        (["rm", "{store}", "missing"], "no key 'missing'"),
        (["set", "{store}", "bad key", "1"], "invalid key part 'bad key'"),
        (["ls", "{tmp}/nowhere"], "no store at"),
        (["ls", "{store}", "../etc"], "invalid key part '..'"),
        (["info", "{store}", "-o", "novalue"], "-o takes key=value"),
        (["set", "{store}", "k", "x", "-f", "nope"], "invalid choice: 'nope'"),
        (["get", "{store}"], "the following arguments are required: key"),
    ],
)
def test_user_mistakes_give_one_clear_line_and_a_nonzero_exit(tmp_path, args, message):
    d = open_dict(str(tmp_path / "store"), "json")
    d["present"] = 1
    args = [a.format(store=tmp_path / "store", tmp=tmp_path) for a in args]
    done = run(*args, check=False)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("persidict") and message in last


def test_mount_command_serves_in_the_background_until_fusermount(tmp_path):
    d = open_dict(str(tmp_path / "store"), "txt")
    d["greeting"] = "hello"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    run(
        "mount",
        str(tmp_path / "store"),
        str(mnt),
        "--log",
        str(tmp_path / "log"),
        "--log-level",
        "INFO",
    )
    try:
        assert os.listdir(mnt) == ["greeting.txt"]
        assert (mnt / "greeting.txt").read_text() == "hello"
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
    wait_for(lambda: SERVER_EXIT in (tmp_path / "log").read_text(), "the server's exit")
    assert not os.path.ismount(mnt)


@pytest.mark.parametrize("dst", ["{src}/sub", "{src}", "{parent}"])
def test_cp_into_itself_is_refused_in_one_line(tmp_path, dst):
    src = tmp_path / "many"
    open_dict(str(src), "json").setitems({str(i): i for i in range(5)})
    done = run("cp", str(src), dst.format(src=src, parent=tmp_path), check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"persidict: error: cannot copy {src} to {dst.format(src=src, parent=tmp_path)}: "
        "one store lies inside the other"
    ]
    assert len(open_dict(str(src), "json")) == 5


def test_cp_into_itself_is_refused_on_s3_too(s3_options):
    src = f"s3://persidict-tests/many-{uuid.uuid4().hex[:8]}"
    done = run("cp", src, f"{src}/sub/", "--endpoint-url", s3_options["endpoint_url"], check=False)
    assert done.returncode == 2 and "one store lies inside the other" in done.stderr


def test_ls_into_a_pipe_closed_early_ends_quietly(tmp_path):
    d = open_dict(str(tmp_path / "store"), "json")
    d.setitems({("k" * 150, f"{i:05d}"): i for i in range(1500)})  # ~230 kB: more than a pipe
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {PERSIDICT} ls {tmp_path / 'store'} | head -1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout == f"{'k' * 150}/00000\n"
    assert done.stderr == ""
    assert done.returncode in (0, 141)


def test_an_s3_endpoint_in_the_environment_leaves_local_stores_alone(tmp_path):
    d = open_dict(str(tmp_path / "store"), "txt")
    d["greeting"] = "hello"
    env = {"PERSIDICT_ENDPOINT_URL": "http://127.0.0.1:9"}
    assert run("ls", str(tmp_path / "store"), env=env).stdout == "greeting\n"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    run("mount", str(tmp_path / "store"), str(mnt), "--log", str(tmp_path / "log"), env=env)
    try:
        assert (mnt / "greeting.txt").read_text() == "hello"
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)


def test_an_unknown_storage_option_is_named_in_one_line(tmp_path, s3_options):
    url = f"s3://persidict-tests/opt-{uuid.uuid4().hex[:8]}"
    done = run(
        "ls", url, "--endpoint-url", s3_options["endpoint_url"], "-o", "bogus=1", check=False
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"persidict: error: unknown storage option 'bogus' (-o bogus=...) for {url}; "
        "see persidict --help"
    ]
    (tmp_path / "store").mkdir()
    done = run("ls", str(tmp_path / "store"), "-o", "bogus=1", check=False)
    assert done.returncode == 2 and "'-o bogus'" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "persidict: error: -o bogus: a local folder takes no storage options"
    ]


def test_a_known_storage_option_reaches_s3(s3_options):
    url = f"s3://persidict-tests/opt-{uuid.uuid4().hex[:8]}"
    open_dict(url, "json", **s3_options)["k"] = 1
    region = 'client_kwargs={"region_name": "us-east-1"}'
    done = run("ls", url, "--endpoint-url", s3_options["endpoint_url"], "-o", region)
    assert done.stdout == "k\n"


def test_the_stores_own_documented_options_are_accepted(s3_options):
    url = f"s3://persidict-tests/opt-{uuid.uuid4().hex[:8]}"
    open_dict(url, "json", **s3_options)["k"] = 1
    endpoint = ["--endpoint-url", s3_options["endpoint_url"]]
    for option in ("request_timeout=3", "max_attempts=2", "ship_credentials=false"):
        assert run("ls", url, *endpoint, "-o", option).stdout == "k\n", option


def test_help_explains_urls_options_and_keys_with_examples():
    for args in (["--help"], ["get", "--help"], ["mount", "--help"]):
        out = run(*args).stdout
        assert "s3://bucket/prefix" in out and "/data/store" in out  # URL forms
        assert "-o anon=true" in out  # storage options
        assert "Eliza/year" in out  # key syntax
    assert "e.g. Eliza/year" in run("get", "--help").stdout  # the positional's own help


def test_the_default_mount_log_is_per_mount_point_and_begun_afresh(tmp_path):
    open_dict(str(tmp_path / "store"), "txt")["greeting"] = "hello"
    logs = []
    for parent in ("one", "two", "one"):
        mnt = tmp_path / parent / "mnt"
        mnt.mkdir(parents=True, exist_ok=True)
        done = run("mount", str(tmp_path / "store"), str(mnt), "--log-level", "INFO")
        log = done.stderr.split(", log ")[1].split(")")[0]
        try:
            assert (mnt / "greeting.txt").read_text() == "hello"
        finally:
            subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        wait_for(lambda log=log: SERVER_EXIT in Path(log).read_text(), "the server's exit")
        logs.append((log, Path(log).read_text()))
    assert logs[0][0] == logs[2][0] != logs[1][0]  # same mount point, same log
    assert logs[2][1].count(SERVER_EXIT) == 1  # not appended to the first run's


class _Planted:
    """Unpickling this runs ``touch marker``: what a hostile writer plants in a pkl store."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _store_with_a_planted_pickle(tmp_path: Path) -> tuple[Path, Path, bytes]:
    marker = tmp_path / "marker"
    src = tmp_path / "src"
    open_dict(str(src), "pkl").setitems({"ok": 1, ("a", "b"): [2]})
    planted = pickle.dumps(_Planted(marker))
    (src / "planted.pkl").write_bytes(planted)
    return src, marker, planted


def test_cp_in_the_same_format_copies_bytes_and_runs_nothing(tmp_path):
    src, marker, planted = _store_with_a_planted_pickle(tmp_path)
    run("cp", str(src), str(tmp_path / "dst"))
    assert (tmp_path / "dst" / "planted.pkl").read_bytes() == planted
    assert (tmp_path / "dst" / "a" / "b.pkl").read_bytes() == (src / "a" / "b.pkl").read_bytes()
    assert not marker.exists()


def test_cp_converting_pickles_needs_trust(tmp_path):
    src, marker, _ = _store_with_a_planted_pickle(tmp_path)
    done = run("cp", str(src), str(tmp_path / "dst"), "--format", "json", check=False)
    assert done.returncode == 1 and "add --trust" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not marker.exists() and not list((tmp_path / "dst").rglob("*.json"))
    run("cp", str(src), str(tmp_path / "dst"), "--format", "json", "--trust")
    assert marker.exists()  # --trust is the user saying the code may run


def test_cp_converting_json_decodes_data_only(tmp_path):
    marker = tmp_path / "marker"
    src = tmp_path / "src"
    open_dict(str(src), "json")["ok"] = {"a": 1}
    attack = {"py/reduce": [{"py/function": "os.system"}, {"py/tuple": [f"touch {marker}"]}]}
    (src / "planted.json").write_text(json.dumps(attack))
    done = run("cp", str(src), str(tmp_path / "dst"), "--format", "pkl", check=False)
    assert done.returncode == 1 and "refused to decode py/function 'os.system'" in done.stderr
    assert "planted.json" in done.stderr and not marker.exists()
    run("cp", str(src), str(tmp_path / "same"))  # same format: bytes, nothing decoded
    assert (tmp_path / "same" / "planted.json").read_text() == json.dumps(attack)
    assert not marker.exists()


def test_a_refused_commit_through_a_mount_is_not_listed_afterwards(tmp_path):
    open_dict(str(tmp_path / "store"), "json")["seed"] = 0
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    run("mount", str(tmp_path / "store"), str(mnt), "--log", str(tmp_path / "log"))
    try:
        shell = subprocess.run(
            ["bash", "-c", "echo '{not json' > x.json; ls"],
            cwd=mnt,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shell.stdout.split() == ["seed.json"]  # at once, not after a cache time
        assert sorted(os.listdir(mnt)) == ["seed.json"]
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["seed.json"]

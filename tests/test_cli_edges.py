"""What a new user meets on the command line: umount, busy mount points, the format guess,
one trust rule, incremental copies, missing buckets and quiet logs (issue 22)."""

from __future__ import annotations

import os
import pickle
import random
import subprocess
import uuid
from pathlib import Path

import pytest

from persidict import FileDirDict, NonEmptySafeStrTuple, open_dict
from persidict.dicts.url import guess_format
from persidict.formats import format_names, get_format
from persidict_fs.mount import mounted_fs, server_pids
from tests.test_cli import PERSIDICT, _Planted, run
from tests.waiting import wait_for


def _one_line_error(done: subprocess.CompletedProcess, status: int) -> str:
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# --- mount and umount


def test_umount_ends_the_server_so_a_new_mount_there_stays(tmp_path):
    open_dict(str(tmp_path / "store"), "txt")["greeting"] = "hello"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    for _ in range(3):  # the old server, still stopping, used to unmount the next mount
        run("mount", str(tmp_path / "store"), str(mnt))
        pids = server_pids(mnt)
        assert len(pids) == 1
        assert (mnt / "greeting.txt").read_text() == "hello"
        run("umount", str(mnt))
        assert mounted_fs(mnt) is None and server_pids(mnt) == []
    assert os.listdir(mnt) == []


def test_a_mount_waits_for_the_server_a_plain_fusermount_left_stopping(tmp_path):
    open_dict(str(tmp_path / "store"), "txt")["greeting"] = "hello"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    for _ in range(3):
        run("mount", str(tmp_path / "store"), str(mnt))
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        run("mount", str(tmp_path / "store"), str(mnt))
        assert (mnt / "greeting.txt").read_text() == "hello"
        assert mounted_fs(mnt) == "fuse.persidict"
        run("umount", str(mnt))


def test_umount_of_a_folder_that_is_no_mount_is_one_line(tmp_path):
    line = _one_line_error(run("umount", str(tmp_path), check=False), 2)
    assert line == f"persidict: error: {tmp_path} is not a mount point"


def test_mounting_on_a_folder_with_files_is_refused_unless_nonempty(tmp_path):
    open_dict(str(tmp_path / "store"), "txt")["greeting"] = "hello"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    (mnt / "mine.txt").write_text("kept")
    line = _one_line_error(run("mount", str(tmp_path / "store"), str(mnt), check=False), 2)
    assert "is not empty" in line and "--nonempty" in line
    assert mounted_fs(mnt) is None and server_pids(mnt) == []
    run("mount", str(tmp_path / "store"), str(mnt), "--nonempty")
    try:
        assert os.listdir(mnt) == ["greeting.txt"]  # the folder's own file is hidden meanwhile
    finally:
        run("umount", str(mnt))
    assert (mnt / "mine.txt").read_text() == "kept"


def test_a_mount_point_that_is_no_folder_is_one_line(tmp_path):
    (tmp_path / "store").mkdir()
    line = _one_line_error(
        run("mount", str(tmp_path / "store"), str(tmp_path / "no"), check=False), 2
    )
    assert "is not a folder" in line


# --- the format, read from the keys' extensions


@pytest.mark.parametrize("plain", ["README", "notes.md", "data.csv", ".hidden", "Makefile"])
def test_plain_files_among_the_first_never_flip_the_format(tmp_path, plain):
    store = tmp_path / "store"
    d = FileDirDict(str(store))
    d["Eliza", "year"] = 1965
    (store / plain).write_text("a plain file")
    (store / "Eliza" / plain).write_text("another")
    assert guess_format(str(store)) == "pkl"
    assert run("get", str(store), "Eliza/year").stdout == "1965\n"
    info = run("info", str(store)).stdout
    assert "format: pkl (opened as pkl, from its files' extensions" in info


def test_the_guess_is_the_format_of_most_key_files_whatever_plain_files_lie_among_them(tmp_path):
    rng = random.Random(22)
    plain_names = ["README", "LICENSE", "notes.md", "x.csv", "y.tmpl", "Makefile", "z.yaml"]
    for trial in range(30):
        store = tmp_path / f"s{trial}"
        fmt = rng.choice([n for n in format_names() if get_format(n).extension])
        d = open_dict(str(store), "bytes")
        n_keys = rng.randint(1, 8)
        for i in range(n_keys):
            d[f"k{i}{get_format(fmt).extension}"] = b"x"  # a file of fmt's extension
        for i in range(rng.randint(0, 3 * n_keys)):
            d[f"{rng.choice(plain_names)}{i}" if i else rng.choice(plain_names)] = b"p"
        # a minority of another format's files never wins either
        other = rng.choice([n for n in format_names() if get_format(n).extension != ""])
        if other != fmt:
            for i in range((n_keys - 1) // 2):
                d[f"o{i}{get_format(other).extension}"] = b"x"
        assert guess_format(str(store)) == fmt, (trial, fmt, sorted(os.listdir(store)))


def test_only_plain_files_make_a_bytes_store_and_nothing_the_default(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "README").write_text("x")
    assert guess_format(str(tmp_path / "raw")) == "bytes"
    (tmp_path / "empty").mkdir()
    assert guess_format(str(tmp_path / "empty")) == "pkl"


def test_a_missing_key_says_how_the_store_was_opened(tmp_path):
    FileDirDict(str(tmp_path / "store"))["a"] = 1
    line = _one_line_error(run("get", str(tmp_path / "store"), "b", check=False), 1)
    assert line.endswith("no key 'b' in " + str(tmp_path / "store") + " (opened as pkl, "
                         "from its files' extensions; --format to choose)")  # fmt: skip


# --- keys as a/b


def test_keys_print_as_their_parts_joined_by_slash():
    key = NonEmptySafeStrTuple("Eliza", "year")
    assert str(key) == f"{key}" == "Eliza/year"
    assert repr(key) == "NonEmptySafeStrTuple(('Eliza', 'year'))"  # repr stays exact


def test_keys_of_a_listing_print_as_a_b(tmp_path):
    d = FileDirDict(str(tmp_path / "store"))
    d["Eliza", "year"] = 1965
    assert [str(k) for k in d] == ["Eliza/year"]


# --- one trust rule


def _planted_store(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "marker"
    src = tmp_path / "src"
    open_dict(str(src), "pkl").setitems({"ok": {"a": [1, 2.5]}, ("a", "b"): [2]})
    (src / "planted.pkl").write_bytes(pickle.dumps(_Planted(marker)))
    return src, marker


def test_get_decodes_plain_data_without_trust_and_refuses_code(tmp_path):
    src, marker = _planted_store(tmp_path)
    assert run("get", str(src), "ok").stdout == '{\n  "a": [\n    1,\n    2.5\n  ]\n}\n'
    line = _one_line_error(run("get", str(src), "planted", check=False), 1)
    assert "refused to load posix.system" in line and "add --trust" in line
    assert not marker.exists()
    run("get", str(src), "planted", "--trust")
    assert marker.exists()  # --trust is the user saying the code may run


def test_cp_converting_follows_the_same_rule(tmp_path):
    src, marker = _planted_store(tmp_path)
    (src / "planted.pkl").unlink()
    run("cp", str(src), str(tmp_path / "dst"), "--format", "json")  # plain data: no --trust
    assert dict(open_dict(str(tmp_path / "dst"), "json").items()) == {
        ("ok",): {"a": [1, 2.5]},
        ("a", "b"): [2],
    }
    src, marker = _planted_store(tmp_path / "again")
    done = run("cp", str(src), str(tmp_path / "dst2"), "--format", "json", check=False)
    line = _one_line_error(done, 1)
    assert "refused to load posix.system" in line and "add --trust" in line
    assert not marker.exists()


# --- cp: --skip-existing, --dry-run, --prefix


@pytest.fixture(params=["local", "s3"])
def destination(request, tmp_path):
    """(url, extra args, options) of an empty store to copy into."""
    if request.param == "local":
        return str(tmp_path / "dst"), [], {}
    options = request.getfixturevalue("s3_options")
    url = f"s3://persidict-tests/cp-{uuid.uuid4().hex[:8]}"
    return url, ["--endpoint-url", options["endpoint_url"]], options


def test_cp_skip_existing_copies_only_new_and_changed_keys(tmp_path, destination):
    url, extra, options = destination
    src = open_dict(str(tmp_path / "src"), "json")
    src.setitems({("k", str(i)): i for i in range(20)})
    run("cp", str(tmp_path / "src"), url, *extra)
    src["k", "3"] = "changed, and longer"
    src["new"] = 1
    dry = run("cp", str(tmp_path / "src"), url, "--skip-existing", "--dry-run", *extra)
    assert sorted(dry.stdout.split()) == ["k/3", "new"]
    assert "would copy 2 keys" in dry.stderr and "(19 up to date)" in dry.stderr
    assert "new" not in open_dict(url, "json", **options)  # a dry run copies nothing
    done = run("cp", str(tmp_path / "src"), url, "--skip-existing", *extra)
    assert "copied 2 keys" in done.stderr and "19 up to date" in done.stderr
    assert dict(open_dict(url, "json", **options).items()) == dict(src.items())
    again = run("cp", str(tmp_path / "src"), url, "--skip-existing", *extra)
    assert "copied 0 keys" in again.stderr and "21 up to date" in again.stderr


def test_cp_prefix_copies_only_keys_under_it(tmp_path, destination):
    url, extra, options = destination
    src = open_dict(str(tmp_path / "src"), "json")
    src.setitems({("Eliza", "year"): 1965, ("Eliza", "a", "b"): 1, "Eliza": 0, "Shoebox": 2})
    run("cp", str(tmp_path / "src"), url, "--prefix", "Eliza", *extra)
    copied = open_dict(url, "json", **options)
    assert sorted(copied) == sorted([("Eliza",), ("Eliza", "year"), ("Eliza", "a", "b")])
    dry = run("cp", str(tmp_path / "src"), url, "--prefix", "Eliza", "--skip-existing", "-n",
              *extra)  # fmt: skip
    assert dry.stdout == "" and "would copy 0 keys" in dry.stderr


# --- S3: a missing bucket, and where errors point


def test_a_missing_bucket_is_named_once_with_the_hint_to_create_it(tmp_path, s3_options):
    (tmp_path / "src").mkdir()
    open_dict(str(tmp_path / "src"), "json")["k"] = 1
    bucket = f"missing-{uuid.uuid4().hex[:8]}"
    endpoint = ["--endpoint-url", s3_options["endpoint_url"]]
    line = _one_line_error(run("ls", f"s3://{bucket}/store", *endpoint, check=False), 1)
    assert f"(s3://{bucket}/store)" in line and "store/store" not in line
    line = _one_line_error(run("cp", str(tmp_path / "src"), f"s3://{bucket}/x", *endpoint,
                               check=False), 1)  # fmt: skip
    assert f"S3 bucket '{bucket}' does not exist" in line and "-o create_bucket=true" in line
    run("cp", str(tmp_path / "src"), f"s3://{bucket}/x", *endpoint, "-o", "create_bucket=true")
    assert dict(open_dict(f"s3://{bucket}/x", "json", **s3_options).items()) == {("k",): 1}


# --- quiet at the default level


def test_mounting_an_s3_store_says_one_line_and_logs_nothing_routine(tmp_path, s3_options):
    url = f"s3://persidict-tests/quiet-{uuid.uuid4().hex[:8]}"
    open_dict(url, "txt", **s3_options)["greeting"] = "hello"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    log = tmp_path / "log"
    done = run("mount", url, str(mnt), "--endpoint-url", s3_options["endpoint_url"],
               "--log", str(log), env=env)  # fmt: skip
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"mounted {url} as txt at ")
    try:
        assert (mnt / "greeting.txt").read_text() == "hello"
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
    run("mount", url, str(mnt), "--endpoint-url", s3_options["endpoint_url"], "--log", str(log))
    run("umount", str(mnt))  # waits for the first server too
    assert log.read_text() == ""  # no credentials line, no libfuse chatter


def test_a_foreground_mount_shows_refusals_on_its_stderr_and_no_libfuse_chatter(tmp_path):
    open_dict(str(tmp_path / "store"), "json")["seed"] = 0
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    server = subprocess.Popen(
        [PERSIDICT, "mount", str(tmp_path / "store"), str(mnt), "--foreground"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: mounted_fs(mnt) == "fuse.persidict", "the mount")
        subprocess.run(["bash", "-c", f"echo '{{not json' > {mnt}/x.json"], timeout=60)
    finally:
        run("umount", str(mnt))
        _, err = server.communicate(timeout=60)
    assert server.returncode == 0
    assert "could not store '/x.json': not valid 'json' data" in err
    assert "failed to unmount" not in err
    assert sorted(os.listdir(tmp_path / "store")) == ["seed.json"]


def test_a_mount_at_a_relative_path_outlives_other_mounts_coming_and_going(tmp_path):
    open_dict(str(tmp_path / "store"), "txt")["greeting"] = "hello"
    for name in ("mnt1", "mnt2"):
        (tmp_path / name).mkdir()
    here = {"cwd": tmp_path}
    _in(here, "mount", "store", "mnt1")
    _in(here, "mount", "store", "mnt2")  # a change of the mount table: mnt1 used to stop
    _in(here, "umount", "mnt2")  # another one
    assert (tmp_path / "mnt1" / "greeting.txt").read_text() == "hello"
    _in(here, "umount", "mnt1")  # "not a mount point" when it had stopped
    assert mounted_fs(tmp_path / "mnt1") is None


def _in(where: dict, *args: str) -> None:
    done = subprocess.run([PERSIDICT, *args], capture_output=True, text=True, timeout=120, **where)
    assert done.returncode == 0, done.stderr

"""A mounted json store behaves like a disk to shell tools, on a local folder, S3, GCS and Azure.

One mount per backend for the whole module; each test works in its own folder.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid

import pytest
from fuse_helpers import mount_fixture

from tests.waiting import wait_for

TTL = 0.5


@pytest.fixture(scope="module", params=["local", "s3", "gcs", "azure"])
def m(request, tmp_path_factory):
    handle, mounted = mount_fixture(request, tmp_path_factory, cache_ttl=TTL)
    with handle:
        yield mounted


@pytest.fixture(scope="module", params=["local", "s3"])
def long_ttl(request, tmp_path_factory):
    """A mount whose listings stay fresh for the whole test: an hour."""
    handle, mounted = mount_fixture(request, tmp_path_factory, cache_ttl=3600)
    with handle:
        yield mounted


@pytest.fixture
def here(m):
    """A fresh folder name for one test, and the dict key prefix it stands for."""
    return f"t{uuid.uuid4().hex[:8]}"


def test_ls_l_shows_sizes_and_mtimes(m, here):
    m.d[here, "a"] = [1, 2, 3]
    m.d[here, "b"] = "x" * 1000
    out = m.sh(f"ls -l --time-style=+%s {here}").stdout.splitlines()[1:]
    rows = {line.split()[-1]: line.split() for line in out}
    assert set(rows) == {"a.json", "b.json"}
    store = m.d.store
    for name in rows:
        entry = store.info(f"{here}/{name}")
        assert int(rows[name][4]) == entry.size
        assert abs(int(rows[name][5]) - entry.mtime) <= 1


def test_read_with_cat_head_stat_find_grep_du(m, here):
    m.d[here, "sub", "x"] = {"name": "Eliza", "year": 1965}
    m.d[here, "y"] = "Shoebox"
    path = f"{here}/sub/x.json"
    data = m.d.store.read(path)
    assert m.sh(f"cat {path}").stdout.encode() == data
    assert m.sh(f"head -c 5 {path}").stdout.encode() == data[:5]
    assert m.sh(f"tail -c +3 {path} | head -c 4").stdout.encode() == data[2:6]
    assert m.sh(f"stat -c %s {path}").stdout.strip() == str(len(data))
    assert m.sh(f"find {here} -type f | sort").stdout.split() == [path, f"{here}/y.json"]
    assert m.sh(f"grep -rl Eliza {here}").stdout.split() == [path]
    assert int(m.sh(f"du -s --apparent-size -B1 {here}").stdout.split()[0]) > len(data)


def test_cp_r_out_of_the_mount(m, here, tmp_path):
    m.d.setitems({(here, "a"): 1, (here, "d", "b"): [2]})
    m.sh(f"cp -r {here} {tmp_path}/out")
    assert (tmp_path / "out/a.json").read_bytes() == m.d.store.read(f"{here}/a.json")
    assert (tmp_path / "out/d/b.json").read_bytes() == m.d.store.read(f"{here}/d/b.json")


def test_echo_creates_replaces_and_appends(m, here):
    m.sh(f"mkdir {here} && echo 12 > {here}/n.json")
    assert m.d[here, "n"] == 12
    m.sh(f"echo '[1, 2]' > {here}/n.json")
    assert m.d[here, "n"] == [1, 2]
    m.sh(f"printf 12 > {here}/k.json && printf 34 >> {here}/k.json && cat {here}/k.json")
    assert m.d[here, "k"] == 1234


def test_cp_file_and_cp_r_folder_into_the_mount(m, here, tmp_path):
    src = tmp_path / "src"
    (src / "deep").mkdir(parents=True)
    (src / "one.json").write_text('{"v": 1}')
    (src / "deep" / "two.json").write_text("[2]")
    m.sh(f"mkdir {here} && cp {src}/one.json {here}/ && cp -r {src} {here}/tree")
    assert m.d[here, "one"] == {"v": 1}
    assert m.d[here, "tree", "one"] == {"v": 1}
    assert m.d[here, "tree", "deep", "two"] == [2]


def test_truncate_and_touch(m, here):
    m.d[here, "n"] = 1234
    m.sh(f"truncate -s 2 {here}/n.json")
    assert m.d[here, "n"] == 12
    m.sh(f"touch {here}/n.json")
    assert m.d[here, "n"] == 12


def test_rm_rm_r_mkdir_rmdir(m, here):
    m.d.setitems({(here, "a"): 1, (here, "d", "b"): 2, (here, "d", "e", "c"): 3})
    m.sh(f"rm {here}/a.json")
    assert (here, "a") not in m.d
    m.sh(f"rm -r {here}/d")
    assert not [k for k in m.d if k[0] == here]
    m.sh(f"mkdir {here}/new && test -d {here}/new && rmdir {here}/new && ! test -e {here}/new")
    m.d[here, "full", "x"] = 1
    done = m.sh(f"rmdir {here}/full", check=False)
    assert done.returncode != 0 and "not empty" in done.stderr


def test_mv_file_renames_the_key(m, here):
    m.d[here, "old"] = "value"
    m.sh(f"mv {here}/old.json {here}/new.json")
    assert (here, "old") not in m.d
    assert m.d[here, "new"] == "value"


def test_mv_folder_moves_every_key_under_it(m, here):
    m.d.setitems({(here, "a", "x"): 1, (here, "a", "y", "z"): 2})
    m.sh(f"mv {here}/a {here}/b && ls -R {here}")
    assert sorted(k for k in m.d if k[0] == here) == [(here, "b", "x"), (here, "b", "y", "z")]
    assert m.d[here, "b", "y", "z"] == 2
    assert m.sh(f"ls {here}").stdout.split() == ["b"]


def test_sed_i_and_editor_style_save_through_temp_names(m, here):
    m.d[here, "v"] = {"n": 1}
    m.sh(f"sed -i 's/1/2/' {here}/v.json")
    assert m.d[here, "v"] == {"n": 2}
    # vim: probe file 4913, backup by rename to v.json~, write anew, drop the backup
    script = f"""
import logging
import os
os.chdir({str(m.root / here)!r})
open("4913", "w").close(); os.unlink("4913")
os.rename("v.json", "v.json~")
with open("v.json", "w") as f:
    f.write('{{"n": 3}}')
os.unlink("v.json~")
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert m.d[here, "v"] == {"n": 3}
    assert sorted(os.listdir(m.root / here)) == ["v.json"]


def test_a_file_renamed_while_open_is_committed_whole_under_its_new_name(m, here):
    m.d[here, "final"] = "old"
    folder = m.root / here
    with open(folder / "part.json", "w") as f:
        f.write('"new"')
        f.flush()
        os.rename(folder / "part.json", folder / "final.json")
        assert m.d[here, "final"] == "old"  # nothing half-done shows before the close
    assert m.d[here, "final"] == "new"
    assert sorted(os.listdir(folder)) == ["final.json"]


def test_readers_see_the_old_value_until_the_writer_closes(m, here):
    m.d[here, "v"] = "old"
    path = m.root / here / "v.json"
    with open(path, "w") as f:
        f.write('"new"')
        f.flush()  # Python's buffer only: the mount commits on close
        assert m.d[here, "v"] == "old"
        assert m.sh(f"cat {here}/v.json").stdout == '"old"'
    assert m.d[here, "v"] == "new"


def test_failed_commit_fails_close_with_eio_and_keeps_the_value(m, here):
    m.d[here, "v"] = [1]
    f = open(m.root / here / "v.json", "w")  # noqa: SIM115  (the close is what is tested)
    f.write("not json")
    with pytest.raises(OSError) as info:
        f.close()
    assert info.value.errno == 5  # EIO
    assert m.d[here, "v"] == [1]
    assert "could not store" in m.log_text() and f"{here}/v.json" in m.log_text()
    done = m.sh(f"echo '{{oops' > {m.log.parent}/bad && cp {m.log.parent}/bad {here}/v.json", False)
    assert done.returncode != 0 and "Input/output error" in done.stderr
    assert m.d[here, "v"] == [1]


def test_names_that_are_not_keys_are_plain_files_the_dict_skips(m, here):
    m.sh(f"mkdir {here}")
    m.sh(f"echo 1 > '{here}/bad name.json'")
    m.sh(f"echo 2 > {here}/no_extension")
    assert m.sh(f"cat '{here}/bad name.json' {here}/no_extension").stdout == "1\n2\n"
    assert sorted(os.listdir(m.root / here)) == ["bad name.json", "no_extension"]
    assert list(m.d.get_subdict(here)) == []
    assert m.d.store.read(f"{here}/bad name.json") == b"1\n"  # under its literal name


def test_changes_by_other_processes_show_after_the_cache_time(m, here):
    m.d[here, "v"] = 1
    assert m.sh(f"cat {here}/v.json").stdout == "1"
    m.d[here, "v"] = 22
    m.d[here, "w"] = 3
    # once the mount's and the kernel's caches (TTL) expire
    wait_for(lambda: m.sh(f"cat {here}/v.json").stdout == "22", "the changed value")
    wait_for(lambda: m.sh(f"ls {here}").stdout.split() == ["v.json", "w.json"], "the new file")


def test_ls_l_of_a_big_folder_is_one_listing_not_a_request_per_file(long_ttl, caplog):
    m, here = long_ttl, f"t{uuid.uuid4().hex[:8]}"
    m.d.setitems({(here, f"k{i:04d}"): i for i in range(1100)})  # two S3 list pages
    caplog.set_level(logging.INFO, logger="werkzeug")  # the moto server logs each request
    caplog.clear()
    rows = m.sh(f"ls -l {here}").stdout.splitlines()[1:]
    assert len(rows) == 1100 and rows[7].split()[4] == "1"
    log = m.log_text()
    assert f"info '{here}/" not in log  # no request per file
    # A fresh listing answers every lookup in the folder: one listing for the
    # whole ls (with the 0.5 s TTL of the other tests, one per TTL the ls lasts).
    assert log.count(f"listed '{here}': 1100 entries") == 1
    if m.d.store.url.startswith("s3://"):
        requests = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
        assert not [r for r in requests if f"/{here}/k" in r], requests
        # every request is one the mount logged: the 2 pages of the listing, and
        # the look-ups of the folder itself (is it a file? a folder?)
        pages = [r for r in requests if "list-type=2" in r and "max-keys=1&" not in r]
        lookups = [r for r in requests if r not in pages]
        assert len(pages) == 2, requests
        assert len(lookups) <= 2 * log.count(f"info '{here}'\n"), requests
        assert all(f"/{here} " in r or f"/{here}/&max-keys=1&" in r for r in lookups), lookups


def hold_open(path, mode: str, text: str = "") -> subprocess.Popen:
    """Another process with ``path`` open (having written ``text``); it closes on ``close``."""
    script = f"""
import sys
f = open({str(path)!r}, {mode!r})
if {text!r}:
    f.write({text!r}); f.flush()
print("open", flush=True)
sys.stdin.read()
f.close()
"""
    p = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline() == "open\n"
    return p


def close(p: subprocess.Popen) -> None:
    p.communicate(timeout=60)
    assert p.returncode == 0


def test_a_file_open_for_writing_follows_its_folder_when_the_folder_is_moved(m, here):
    m.d[here, "a", "old"] = 1
    writer = hold_open(m.root / here / "a" / "new.json", "w", "2")
    m.sh(f"mv {here}/a {here}/b")
    close(writer)
    assert sorted(k for k in m.d if k[0] == here) == [(here, "b", "new"), (here, "b", "old")]
    assert m.d[here, "b", "new"] == 2
    assert m.sh(f"ls {here}").stdout.split() == ["b"]


def test_rm_of_files_held_open_removes_them_for_good(m, here):
    m.d.setitems({(here, "r"): 1, (here, "w"): 2})
    reader = hold_open(m.root / here / "r.json", "r")
    writer = hold_open(m.root / here / "w.json", "w", "3")
    fresh = hold_open(m.root / here / "n.json", "w", "4")  # not stored until its close
    m.sh(f"rm {here}/r.json {here}/w.json {here}/n.json")
    close(reader)
    close(writer)  # the bytes of an unlinked file vanish with its last close
    close(fresh)
    assert not [k for k in m.d if k[0] == here]
    assert m.sh(f"ls {here}").stdout == ""


HOSTILE_JSON = {
    "a-name-under-numpy": b'{"py/object": "numpy.f2py.__main__.X"}',
    "fraction-1e2000000000": (
        b'{"py/reduce": [{"py/type": "fractions.Fraction"}, {"py/tuple": ["1e2000000000"]}]}'
    ),
    "bytearray-2GiB": (
        b'{"py/reduce": [{"py/type": "builtins.bytearray"}, {"py/tuple": [2147483648]}]}'
    ),
}


@pytest.mark.parametrize("payload", sorted(HOSTILE_JSON))
def test_a_hostile_json_copied_in_is_refused_and_the_mount_stays(m, here, tmp_path, payload):
    src = tmp_path / "evil.json"
    src.write_bytes(HOSTILE_JSON[payload])
    done = m.sh(f"mkdir -p {here} && cp {src} {here}/x.json", check=False)
    assert done.returncode != 0  # the close that commits it fails
    assert (here, "x") not in m.d
    m.sh(f"echo 7 > {here}/ok.json")  # the server still serves
    assert m.d[here, "ok"] == 7

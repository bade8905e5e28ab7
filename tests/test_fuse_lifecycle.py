"""Mount life cycle and limits: read-only, unmount by signal or fusermount, big folders, S3 down."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
from fuse_helpers import Mounted

from persidict import open_dict
from persidict.testing import free_port
from persidict_fs import MountError, mount
from tests.waiting import wait_for


def test_mounting_what_cannot_be_served_is_a_clear_error(tmp_path):
    with pytest.raises(MountError, match="memory:// lives in this process only"):
        mount("memory://nowhere/store", tmp_path)
    with pytest.raises(MountError, match="is not a folder"):
        mount(str(tmp_path / "store"), tmp_path / "missing")
    (tmp_path / "mnt").mkdir()
    with pytest.raises(MountError, match="could not mount"):
        mount(str(tmp_path / "store"), tmp_path / "mnt", log_file=tmp_path / "log", bogus=1)


def test_read_only_mount_refuses_every_write_with_erofs(tmp_path):
    d = open_dict(str(tmp_path / "store"), "json")
    d["a", "b"] = 1
    (tmp_path / "mnt").mkdir()
    with mount(d, tmp_path / "mnt", read_only=True, log_file=tmp_path / "log"):
        m = Mounted(d, tmp_path / "mnt", tmp_path / "log", 1.0)
        assert m.sh("cat a/b.json").stdout == "1"
        for script in (
            "echo 2 > a/b.json",
            "echo 2 > a/new.json",
            "rm a/b.json",
            "mkdir c",
            "mv a/b.json a/c.json",
            "touch a/b.json",
            "truncate -s 0 a/b.json",
        ):
            done = m.sh(script, check=False)
            assert done.returncode != 0 and "Read-only file system" in done.stderr, script
    assert dict(d.items()) == {("a", "b"): 1}


def test_a_big_local_value_replaced_while_read_is_read_whole_as_it_was(tmp_path):
    # Over 32 MB a value is read in blocks; on a local store all from one open file,
    # so a replacement (a new inode) cannot mix into a read already under way.
    d = open_dict(str(tmp_path / "store"), "json")
    old, new = "a" * (40 << 20), "b" * (40 << 20)
    d["v"] = old
    (tmp_path / "mnt").mkdir()
    with mount(d, tmp_path / "mnt", log_file=tmp_path / "log"):
        m = Mounted(d, tmp_path / "mnt", tmp_path / "log", 1.0)
        with open(m.root / "v.json", "rb") as f:
            head = f.read(1 << 20)
            before = os.stat(m.root / "v.json").st_mtime_ns
            d["v"] = new
            # once the mount's caches let it see the new file ...
            wait_for(lambda: os.stat(m.root / "v.json").st_mtime_ns != before, "the new mtime")
            rest = f.read()
        assert head + rest == f'"{old}"'.encode()  # ... the open file still reads the old one
        assert m.sh("tail -c 2 v.json").stdout == 'b"'  # and a new open reads the new one


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "fusermount -u"])
def test_foreground_mount_ends_cleanly_and_keeps_every_commit(tmp_path, how):
    store, mnt, log = tmp_path / "store", tmp_path / "mnt", tmp_path / "log"
    mnt.mkdir()
    d = open_dict(str(store), "json")
    d["seed"] = 0
    cmd = [sys.executable, "-m", "persidict.cli", "mount", str(store), str(mnt), "--foreground"]
    server = subprocess.Popen([*cmd, "--log-level", "INFO"], stderr=open(log, "wb"))  # noqa: SIM115
    try:
        wait_for(lambda: os.path.ismount(mnt), "the mount")
        Mounted(d, mnt, log, 1.0).sh("echo 5 > k.json && mkdir f && cp k.json f/k2.json")
        if how == "fusermount -u":
            subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        else:
            server.send_signal(getattr(signal, how))
        assert server.wait(30) == 0, log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)
    assert not os.path.ismount(mnt)
    assert d["k"] == 5 and d["f", "k2"] == 5
    assert "Traceback" not in log.read_text()


def test_listing_a_folder_of_10000_keys_is_one_listing_of_the_store(tmp_path):
    d = open_dict(str(tmp_path / "store"), "bytes")
    d.setitems({("big", f"k{i:05d}"): b"x" * (i % 7) for i in range(10_000)})
    (tmp_path / "mnt").mkdir()
    log = tmp_path / "log"
    with mount(d, tmp_path / "mnt", cache_ttl=60, log_file=log, log_level="DEBUG"):
        m = Mounted(d, tmp_path / "mnt", log, 60)
        rows = m.sh("ls -l big").stdout.splitlines()[1:]
        assert len(rows) == 10_000
        assert rows[3].split()[4] == "3"  # sizes come with the listing
        assert int(m.sh("find big -type f | wc -l").stdout) == 10_000
    text = log.read_text()
    assert len(re.findall(r"listed 'big': 10000 entries", text)) == 1
    assert "info 'big/" not in text  # no per-file request


def test_commit_to_s3_that_is_down_fails_close_with_eio(tmp_path):
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "k", "secret": "s"}
    d = open_dict("s3://down-test/store", "json", create_bucket=True, **options)
    d["v"] = 1
    (tmp_path / "mnt").mkdir()
    log = tmp_path / "log"
    with mount("s3://down-test/store", tmp_path / "mnt", log_file=log, **options):
        m = Mounted(d, tmp_path / "mnt", log, 1.0)
        assert m.sh("cat v.json").stdout == "1"
        server.stop()
        script = "import os\nwith open('v.json', 'w') as f:\n    f.write('2')\n"
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=m.root, capture_output=True, text=True
        )
        assert done.returncode != 0 and "[Errno 5] Input/output error" in done.stderr
    assert "could not " in log.read_text() and "cannot reach S3" in log.read_text()

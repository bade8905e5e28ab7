"""Writes through the mount commit when the writer closes, as a whole, from bounded memory.

Readers in the middle of a write are synchronised on events (the writer's
position in the file, seen in /proc), never on sleeps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from fuse_helpers import fd_position, mount_fixture, wait_written

from tests.waiting import wait_for

SPILL = 256 << 10  # a small threshold, so a few MB prove the spilling


@pytest.fixture(scope="module", params=["local", "s3", "gcs", "azure"])
def mounted(request, tmp_path_factory):
    spill_dir = tmp_path_factory.mktemp("spill")
    handle, m = mount_fixture(
        request, tmp_path_factory, spill_threshold=SPILL, spill_dir=str(spill_dir)
    )
    with handle:
        yield handle, m, spill_dir


@pytest.fixture
def m(mounted):
    return mounted[1]


@pytest.fixture
def here(m):
    import uuid

    folder = f"t{uuid.uuid4().hex[:8]}"
    m.d[folder, "v"] = "old"
    return folder


def writer(m, command: list[str]) -> subprocess.Popen:
    """``command`` run in the mount, fed through a pipe on its stdin."""
    return subprocess.Popen(command, cwd=m.root, stdin=subprocess.PIPE, stderr=subprocess.PIPE)


def feed(p: subprocess.Popen, data: bytes) -> None:
    p.stdin.write(data)
    p.stdin.flush()


def finish(p: subprocess.Popen) -> None:
    p.stdin.close()
    assert p.wait(60) == 0, p.stderr.read()


def sees_old(m, here, size: int = 5) -> None:
    """Every reader, through the mount or the dict, sees the old value (committed);
    ``stat`` shows the size the open writer has written so far, as on a disk."""
    assert m.d[here, "v"] == "old"
    assert m.sh(f"cat {here}/v.json").stdout == '"old"'
    assert m.sh(f"stat -c %s {here}/v.json").stdout.strip() == str(size)


def test_a_shell_redirect_commits_only_when_the_writer_closes(m, here):
    # bash truncates v.json at open (O_TRUNC), then cat copies its stdin into it
    p = writer(m, ["bash", "-c", f"exec cat > {here}/v.json"])
    path = m.root / here / "v.json"
    wait_for(lambda: fd_position(p.pid, 1, path) is not None, what="bash to open v.json")
    sees_old(m, here, 0)  # opened and truncated, nothing written
    feed(p, b'"new')
    wait_written(p.pid, 1, path, 4)
    sees_old(m, here, 4)  # half written
    feed(p, b'"')
    finish(p)
    assert m.d[here, "v"] == "new"
    assert m.sh(f"cat {here}/v.json").stdout == '"new"'


def test_dd_commits_only_when_it_closes(m, here):
    path = m.root / here / "v.json"
    p = writer(m, ["dd", f"of={here}/v.json", "bs=4", "status=none"])
    feed(p, b'"dd_')
    wait_written(p.pid, 1, path, 4)
    sees_old(m, here, 4)
    feed(p, b'new"')
    finish(p)
    assert m.d[here, "v"] == "dd_new"


def test_appending_with_shell_redirect_commits_whole_at_close(m, here):
    p = writer(m, ["bash", "-c", f"exec cat >> {here}/v.json"])
    path = m.root / here / "v.json"
    feed(p, b" ")
    wait_written(p.pid, 1, path, 6)  # O_APPEND: the position is past the old 5 bytes
    sees_old(m, here, 6)
    finish(p)
    assert m.d.store.read(f"{here}/v.json") == b'"old" '


def test_a_writer_killed_mid_write_leaves_the_old_value_whole(m, here):
    p = writer(m, ["dd", f"of={here}/v.json", "bs=4", "status=none"])
    feed(p, b'"new')
    wait_written(p.pid, 1, m.root / here / "v.json", 4)
    p.send_signal(signal.SIGKILL)
    p.wait(60)
    wait_for(lambda: "killed by signal 9" in m.log_text(), what="the mount to see the kill")
    sees_old(m, here)
    assert os.listdir(m.root / here) == ["v.json"]


def server_spills(handle, spill_dir) -> list[str]:
    """The server's open files in ``spill_dir`` (anonymous: they have no name to leave)."""
    fds = f"/proc/{handle.process.pid}/fd"
    links = []
    for fd in os.listdir(fds):
        try:
            links.append(os.readlink(f"{fds}/{fd}"))
        except FileNotFoundError:
            continue
    return [link for link in links if link.startswith(str(spill_dir))]


def test_a_big_write_spills_to_an_anonymous_temp_file_and_commits_whole(mounted, here):
    handle, m, spill_dir = mounted
    big = os.urandom(3 << 20).hex()  # 6 MB of json text: 24 times the threshold
    path = m.root / here / "big.json"
    p = writer(m, ["dd", f"of={here}/big.json", "bs=64K", "status=none"])
    feed(p, b'"' + big[: 2 << 20].encode())
    wait_written(p.pid, 1, path, 2 << 20)
    spills = server_spills(handle, spill_dir)
    assert len(spills) == 1 and spills[0].endswith("(deleted)"), spills
    assert os.listdir(spill_dir) == []  # nothing a crash could leave behind
    assert (here, "big") not in m.d
    feed(p, big[2 << 20 :].encode() + b'"')
    finish(p)
    assert m.d[here, "big"] == big
    assert server_spills(handle, spill_dir) == []
    with open(path, "rb") as f:  # read back through the mount, in blocks
        assert f.read() == f'"{big}"'.encode()


def test_a_file_opened_with_o_trunc_keeps_its_value_until_the_close(m, here):
    script = f"""
import os, sys
fd = os.open({str(m.root / here / "v.json")!r}, os.O_WRONLY | os.O_TRUNC)
print("open", flush=True)
sys.stdin.readline()
os.write(fd, b"7")
print("written", flush=True)
sys.stdin.readline()
os.close(fd)
"""
    p = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline() == "open\n"
    sees_old(m, here, 0)
    p.stdin.write("\n")
    p.stdin.flush()
    assert p.stdout.readline() == "written\n"
    sees_old(m, here, 1)
    p.communicate("\n", timeout=60)
    assert p.returncode == 0
    assert m.d[here, "v"] == 7


def test_a_big_plain_file_is_stored_whole_as_written(m, here):
    data = os.urandom(3 * SPILL + 5)  # spilled; not a key of the json dict: stored as given
    p = writer(m, ["dd", f"of={here}/big blob.bin", "bs=64K", "status=none"])
    feed(p, data)
    finish(p)
    assert m.d.store.read(f"{here}/big blob.bin") == data
    assert (m.root / here / "big blob.bin").read_bytes() == data

"""The mount of an S3 store under faults: a real proxy (persidict.fault_proxy) before moto.

Each fault kind breaks the commit of a write through the mount (a shell
``>`` and a Python open-write-close, creating and replacing a file; a 17 MiB
file committed by CompleteMultipartUpload), the GET of a ``cat`` or the LIST
of an ``ls``: the writer's close succeeds, the store holds exactly the new
bytes and nothing else, and reads through the mount give them. An endpoint
that goes silent fails reads and commits with EIO once the configured
``request_timeout`` is spent, leaving the old value; and the mount stops on
SIGTERM, SIGINT, SIGHUP and ``fusermount3 -u -z`` while a commit of its server hangs
there (the writer's close fails, the old value stays).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import pytest
from fuse_helpers import Mounted

from persidict import open_dict
from persidict.fault_proxy import FAULTS, SILENT
from persidict_fs import mount
from persidict_fs.mount import mounted_fs
from tests.conftest import BUCKET
from tests.fault_fixtures import a_get, proxy_fixture  # noqa: F401 (the proxy fixture)
from tests.waiting import wait_for

TIMEOUT = 1.0  # request_timeout of the faulty mount: what a stall or a silent endpoint costs
TTL = 60  # each test works in a fresh folder; what the mount saw stays cached

# A tiny program run in the mount: read or write a file; print what it read, or "ok",
# or the step that failed and the errno's name ("close: EIO").
PROBE = """
import errno, sys
op, path = sys.argv[1], sys.argv[2]
step = "open"
try:
    if op == "read":
        with open(path, "rb") as f:
            step = "read"
            sys.stdout.write(f.read().decode())
    else:
        f = open(path, "w")
        step = "write"
        f.write(sys.argv[3])
        f.flush()
        step = "close"
        f.close()
        sys.stdout.write("ok")
except OSError as exc:
    sys.stdout.write(f"{step}: {errno.errorcode[exc.errno]}")
"""


def probe(root, op: str, path: str, value: str = "") -> str:
    """Run PROBE in ``root``: the file's text, "ok", or the failed step and errno."""
    args = [sys.executable, "-c", PROBE, op, path, *([value] if value else [])]
    return subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=60).stdout


def s3_url(prefix: str) -> str:
    return f"s3://{BUCKET}/{prefix}"


def mounted_through(proxy, s3_options, tmp_path_factory, fmt: str, request_timeout: float):
    """A ``fmt`` store mounted through the proxy; ``Mounted.d`` talks to moto directly."""
    tmp = tmp_path_factory.mktemp("fusefaults")
    url = s3_url(f"mountfaults-{uuid.uuid4().hex[:8]}")
    root, log = tmp / "mnt", tmp / "mount.log"
    root.mkdir()
    options = dict(s3_options, endpoint_url=proxy.url, request_timeout=request_timeout)
    with mount(url, root, serialization_format=fmt, cache_ttl=TTL, log_file=log,
               log_level="DEBUG", **options):  # fmt: skip
        yield Mounted(open_dict(url, fmt, **s3_options), root, log, TTL)


@pytest.fixture(scope="module")
def m(proxy, s3_options, tmp_path_factory):
    """A json store mounted through the proxy."""
    yield from mounted_through(proxy, s3_options, tmp_path_factory, "json", TIMEOUT)


@pytest.fixture(scope="module")
def raw(proxy, s3_options, tmp_path_factory):
    """A bytes store mounted through the proxy: a file's bytes go to the store as they are,
    so a big one is uploaded in parts. Its timeout leaves room for a 16 MiB part."""
    yield from mounted_through(proxy, s3_options, tmp_path_factory, "bytes", 10.0)


@pytest.fixture
def here(proxy):
    """A fresh folder of the store (so no cache of the mount knows it); faults disarmed after."""
    proxy.clear()
    yield f"t{uuid.uuid4().hex[:8]}"
    proxy.clear()


def stored_names(d, folder: str) -> list[str]:
    """Every object in ``folder`` as S3 lists it (temp names too), then unfinished uploads."""
    requests = d.store.requests
    prefix = requests.folder_key(folder)
    listed = requests.run(lambda: requests.request("list_objects_v2", Prefix=prefix))
    keys = [o["Key"] for o in listed.get("Contents", ())]  # a test folder: one page
    uploads = requests.run(lambda: requests.request("list_multipart_uploads", Prefix=prefix))
    names = sorted(k[len(prefix) :] for k in keys)
    return names + [f"upload of {u['Key']}" for u in uploads.get("Uploads", ())]


def for_file(folder: str, name: str, method: str):
    """A predicate: a ``method`` request for object ``folder/name`` (not a listing)."""
    return lambda r: (
        r.method == method and f"{folder}/{name}" in r.target and (method != "GET" or a_get(r))
    )


WRITERS = {
    "shell": lambda path, text: ["bash", "-c", f"printf %s '{text}' > {path}"],
    "python": lambda path, text: [
        sys.executable, "-c", f"with open({path!r}, 'w') as f: f.write({text!r})"
    ],
}  # fmt: skip


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", ["create", "replace"])
@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_write_through_the_mount_under_a_fault_stores_the_new_value_whole(
    m, proxy, here, fault, kind, writer
):
    path = f"{here}/v.json"
    m.d[here, "seed"] = 0  # the folder exists
    if kind == "replace":
        m.d[here, "v"] = {"old": "o" * 3000}
        assert '"old"' in m.sh(f"cat {path}").stdout
    new = '{"new": "%s"}' % ("n" * 3000)
    proxy.inject(fault, when=for_file(here, "v.json", "PUT"))
    done = subprocess.run(
        WRITERS[writer](path, new), cwd=m.root, capture_output=True, text=True, timeout=60
    )
    assert proxy.pending() == 0, "the commit did not meet the fault"
    if kind == "create" and fault == "reset_before" and stored_names(m.d, here) == ["seed.json"]:
        # Reset before it reached the server, a create reads back absent: "never
        # created" or "created, then removed"? Unknown, so close() fails with EIO
        # and nothing is stored (bash ignores a failed close; Python does not).
        assert writer == "shell" or "Input/output error" in done.stderr, done.stderr
        return
    assert done.returncode == 0, done.stderr  # every other fault here is one the store resolves
    assert m.d.store.read(path) == new.encode()
    assert stored_names(m.d, here) == ["seed.json", "v.json"]
    assert m.sh(f"cat {path}").stdout == new


BIG = 17 << 20  # above the store's 16 MiB: uploaded in parts, committed by one request
# The commit is applied and its reply lost, replaced by a 500, reset or cut short: the
# store must find out what happened (a refusal or a stall takes the small writes' path).
APPLIED = ("lost_reply", "error_500", "reset_after", "truncate")


@pytest.mark.parametrize("fault", APPLIED)
def test_a_big_write_through_the_mount_under_a_fault_at_its_commit_stores_it_whole(
    raw, proxy, here, fault
):
    raw.d[here, "v"] = b"old"
    proxy.inject(fault, when=lambda r: r.method == "POST" and "uploadId=" in r.target
                 and here in r.target)  # fmt: skip
    script = f"with open('{here}/v', 'wb') as f: f.write(bytes(range(256)) * {BIG // 256})"
    done = subprocess.run([sys.executable, "-c", script], cwd=raw.root, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proxy.pending() == 0, "the commit did not meet the fault"
    assert done.returncode == 0, done.stderr
    assert raw.d[here, "v"] == bytes(range(256)) * (BIG // 256)
    assert stored_names(raw.d, here) == ["v"]  # no part or upload left behind
    assert os.stat(raw.root / here / "v").st_size == BIG


@pytest.mark.parametrize("fault", FAULTS)
def test_cat_through_the_mount_under_a_fault_reads_the_stored_bytes(m, proxy, here, fault):
    m.d[here, "r"] = "x" * 5000  # a body long enough that a truncated one is short
    proxy.inject(fault, when=for_file(here, "r.json", "GET"))
    assert m.sh(f"cat {here}/r.json").stdout == '"%s"' % ("x" * 5000)
    assert proxy.pending() == 0, "the read did not meet the fault"


@pytest.mark.parametrize("fault", FAULTS)
def test_ls_through_the_mount_under_a_fault_lists_every_file(m, proxy, here, fault):
    m.d.setitems({(here, f"f{i}"): i for i in range(3)})
    proxy.inject(fault, when=lambda r: "list-type" in r.target and here in r.target)
    assert m.sh(f"ls {here}").stdout.split() == ["f0.json", "f1.json", "f2.json"]
    assert proxy.pending() == 0, "the listing did not meet the fault"


def test_a_silent_endpoint_fails_cat_and_write_with_eio_and_keeps_the_old_value(m, proxy, here):
    m.d.setitems({(here, "v"): "old", (here, "unread"): "u"})
    path = f"{here}/v.json"
    assert m.sh(f"ls {here}").stdout.split() == ["unread.json", "v.json"]  # listed, cached
    assert probe(m.root, "read", path) == '"old"'
    proxy.inject(SILENT, times=1 << 30)  # every request from now on: accepted, never answered
    # each fails at its own request to the store: the GET that pins a reader's
    # version at open, the commit
    assert probe(m.root, "read", f"{here}/unread.json") == "open: EIO"
    assert probe(m.root, "write", path, '"new"') == "close: EIO"
    assert probe(m.root, "write", f"{here}/created.json", "1") == "close: EIO"
    assert any(r.fault == SILENT for r in proxy.seen)
    proxy.clear()
    assert m.d.store.read(path) == b'"old"'
    assert stored_names(m.d, here) == ["unread.json", "v.json"]
    assert probe(m.root, "read", f"{here}/unread.json") == '"u"'  # the endpoint is back
    assert "no answer within 1 s (storage option request_timeout)" in m.log_text()


STOPS = {
    "SIGTERM": lambda handle, mnt: handle.process.send_signal(signal.SIGTERM),
    "SIGINT": lambda handle, mnt: handle.process.send_signal(signal.SIGINT),
    "SIGHUP": lambda handle, mnt: handle.process.send_signal(signal.SIGHUP),
    "fusermount -u -z": lambda handle, mnt: subprocess.run(
        ["fusermount3", "-u", "-z", str(mnt)], check=True, timeout=60
    ),
}


def old_value_mounted(proxy, s3_options, tmp_path, request_timeout: float, stop_timeout: float):
    """A json store on a fresh prefix holding ``v = "old"``, mounted through the proxy.

    Returns (prefix, dict straight to moto, mount point, log file, mount handle).
    """
    prefix = f"mountstop-{uuid.uuid4().hex[:8]}"
    d = open_dict(s3_url(prefix), "json", **s3_options)
    d["v"] = "old"
    mnt, log = tmp_path / "mnt", tmp_path / "log"
    mnt.mkdir()
    options = dict(s3_options, endpoint_url=proxy.url, request_timeout=request_timeout)
    handle = mount(s3_url(prefix), mnt, serialization_format="json", cache_ttl=60,
                   stop_timeout=stop_timeout, log_file=log, **options)  # fmt: skip
    return prefix, d, mnt, log, handle


@pytest.mark.parametrize("how", list(STOPS))
def test_the_mount_stops_while_a_commit_hangs_on_a_silent_endpoint(
    proxy, s3_options, tmp_path, how
):
    # A timeout so long that only the stop can end the hanging commit in time.
    prefix, d, mnt, log, handle = old_value_mounted(
        proxy, s3_options, tmp_path, request_timeout=3600, stop_timeout=0.5
    )
    writer = None
    try:
        assert probe(mnt, "read", "v.json") == '"old"'  # its attributes are cached now
        proxy.inject(SILENT, when=lambda r: prefix in r.target, times=1 << 30)
        writer = subprocess.Popen(
            [sys.executable, "-c", PROBE, "write", "v.json", '"new"'],
            cwd=mnt, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_for(
            lambda: any(r.fault == SILENT and r.method == "PUT" for r in proxy.seen),
            "the writer's commit to hang",
        )
        if how.startswith("fusermount"):
            # as on any filesystem, a plain unmount is refused while a process waits in it
            busy = subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True, text=True)
            assert busy.returncode != 0 and "busy" in busy.stderr, busy.stderr
        STOPS[how](handle, mnt)
        wait_for(lambda: mounted_fs(mnt) is None, "the mount to go")
        assert handle.process.wait(60) == 0, log.read_text()
        closed = writer.communicate(timeout=60)[0]
    finally:
        proxy.clear()
        if writer is not None and writer.poll() is None:
            writer.kill()
        if handle.process.poll() is None:
            handle.process.kill()
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)
    assert closed == "close: ECONNABORTED"  # the writer is told its close failed
    assert d["v"] == "old"  # the commit never reached the store
    assert stored_names(d, "") == ["v.json"]
    text = log.read_text()
    assert "still under way after 0.5 s (stop_timeout)" in text
    assert "Traceback" not in text
    assert os.listdir(mnt) == []


def test_a_stop_lets_a_slow_commit_under_way_finish(proxy, s3_options, tmp_path):
    _, d, mnt, log, handle = old_value_mounted(
        proxy, s3_options, tmp_path, request_timeout=10, stop_timeout=30
    )
    writer = None
    try:
        assert probe(mnt, "read", "v.json") == '"old"'
        proxy.clear()
        proxy.latency = 2.0  # each exchange now takes 2 s: the commit is slow, not stuck
        writer = subprocess.Popen(
            [sys.executable, "-c", PROBE, "write", "v.json", '"new"'],
            cwd=mnt, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_for(lambda: any(r.method == "PUT" for r in proxy.seen), "the commit to start")
        handle.process.send_signal(signal.SIGTERM)
        closed = writer.communicate(timeout=60)[0]
        assert handle.process.wait(60) == 0, log.read_text()
    finally:
        proxy.latency = 0.0
        if writer is not None and writer.poll() is None:
            writer.kill()
        if handle.process.poll() is None:
            handle.process.kill()
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)
    assert closed == "ok"  # the stop waited for the commit under way
    assert d["v"] == "new"
    assert mounted_fs(mnt) is None
    assert "still under way" not in log.read_text()

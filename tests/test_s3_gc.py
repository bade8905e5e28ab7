"""A writer killed mid-upload leaves an unfinished multipart upload; ``persidict gc`` aborts it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

from persidict import S3Dict
from persidict.storage.s3_probe import PROBE_PREFIX
from tests.conftest import BUCKET
from tests.waiting import wait_for

WRITE_BIG = """
import json, sys
from persidict import S3Dict
d = S3Dict(sys.argv[1], sys.argv[2], create_bucket=False, **json.loads(sys.argv[3]))
d["big"] = bytes(64 << 20)  # four parts of 16 MiB
"""


def uploads(d: S3Dict) -> list[str]:
    requests = d.store.requests
    page = requests.run(
        lambda: requests.request("list_multipart_uploads", Prefix=requests.folder_key(""))
    )
    return [u["Key"] for u in page.get("Uploads", ())]


def test_gc_aborts_the_upload_a_killed_writer_left(s3_options):
    prefix = f"gc-{uuid.uuid4().hex[:10]}"
    d = S3Dict(BUCKET, prefix, create_bucket=False, **s3_options)
    options = {k: v for k, v in s3_options.items() if k != "session"}  # not JSON
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITE_BIG, BUCKET, prefix, json.dumps(options)],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        wait_for(lambda: uploads(d), "the writer to begin its multipart upload")
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
    assert uploads(d) == [f"{prefix}/big.pkl"]  # S3 keeps it (and bills it) until aborted
    assert "big" not in d
    # (moto lists every upload as begun in 2010, so the age rule is shown on probes below)
    cli = os.path.join(os.path.dirname(sys.executable), "persidict")
    done = subprocess.run(
        [cli, "gc", f"s3://{BUCKET}/{prefix}", "--older-than", "0",
         "--endpoint-url", s3_options["endpoint_url"]],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert done.stdout == f"removed s3://{BUCKET}/{prefix}/big.pkl (upload)\n"
    assert uploads(d) == []


def test_gc_deletes_a_probe_a_killed_writer_left_at_the_bucket_root(s3_options):
    d = S3Dict(BUCKET, f"gc-{uuid.uuid4().hex[:10]}", create_bucket=False, **s3_options)
    requests = d.store.requests
    key = f"{PROBE_PREFIX}left-{uuid.uuid4().hex[:6]}"
    requests.run(lambda: requests.request("put_object", Key=key, Body=b"probe"))
    assert d.store.collect_garbage(older_than=3600) == []
    assert f"s3://{BUCKET}/{key}" in d.store.collect_garbage(older_than=0)
    listed = requests.run(lambda: requests.request("list_objects_v2", Prefix=PROBE_PREFIX))
    assert key not in [o["Key"] for o in listed.get("Contents", ())]

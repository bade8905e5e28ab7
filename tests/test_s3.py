"""S3 specifics over a real moto server: one request per operation, clear errors."""

import os
import socket
import subprocess
import sys

import pytest

from persidict import S3Dict, open_dict
from persidict.storage import RootNotFoundError
from persidict.storage.s3_requests import CONNECTIONS, MAX_ATTEMPTS
from persidict.testing import count_s3_requests, free_port
from tests.conftest import BUCKET
from tests.waiting import wait_for


@pytest.fixture
def s3d(s3_options, request):
    return S3Dict(BUCKET, f"req-{request.node.name}", **s3_options)


def test_get_set_contains_are_one_request_each(s3d):
    with count_s3_requests(s3d.store) as seen:
        s3d["k"] = 1
    assert seen == {"PutObject": 1}
    with count_s3_requests(s3d.store) as seen:
        assert s3d["k"] == 1
    assert seen == {"GetObject": 1}
    with count_s3_requests(s3d.store) as seen:
        assert "k" in s3d
    assert seen == {"HeadObject": 1}


def test_delete_is_a_head_and_a_delete(s3d):
    # S3's DELETE succeeds for absent objects; the HEAD gives KeyError semantics.
    s3d["k"] = 1
    with count_s3_requests(s3d.store) as seen:
        del s3d["k"]
    assert seen == {"HeadObject": 1, "DeleteObject": 1}


PAGE_AND_ONE = {("k", f"{i:04d}"): i for i in range(1001)}  # S3 lists 1000 keys a page


def test_listing_is_one_request_per_thousand_keys(s3d):
    s3d.setitems(PAGE_AND_ONE)
    with count_s3_requests(s3d.store) as seen:
        assert len(s3d) == 1001
    assert seen == {"ListObjectsV2": 2}


def test_clear_is_one_delete_request_per_thousand_keys(s3d):
    s3d.setitems(PAGE_AND_ONE)
    with count_s3_requests(s3d.store) as seen:
        s3d.clear()
    assert seen == {"ListObjectsV2": 2, "DeleteObjects": 2}
    assert len(s3d) == 0


def test_delitems_is_a_head_per_key_and_one_delete_objects_per_thousand_keys(s3d):
    s3d.setitems(PAGE_AND_ONE)
    with count_s3_requests(s3d.store) as seen:
        s3d.delitems(list(PAGE_AND_ONE))
    assert seen == {"HeadObject": 1001, "DeleteObjects": 2}
    assert len(s3d) == 0


def test_delitems_of_a_missing_key_raises_keyerror_and_deletes_the_others(s3d):
    s3d.setitems({"a": 1, "b": 2, "keep": 3})
    with count_s3_requests(s3d.store) as seen, pytest.raises(KeyError, match="absent"):
        s3d.delitems(["a", "absent", "b", "a"])  # a key twice is deleted once
    assert seen == {"HeadObject": 3, "DeleteObjects": 1}
    assert list(s3d) == [("keep",)]
    assert s3d.discard_many(["keep", "keep", "gone"]) == [True, True, False]
    assert len(s3d) == 0


def test_the_connection_pool_holds_as_many_requests_as_a_batch_sends(s3d, s3_options):
    client = s3d.store.requests.run(s3d.store.requests.client)
    assert client.meta.config.max_pool_connections == s3d.store.max_workers == CONNECTIONS
    options = {**s3_options, "config_kwargs": {"max_pool_connections": 3}}
    mine = S3Dict(BUCKET, "pool", **options)
    client = mine.store.requests.run(mine.store.requests.client)
    assert client.meta.config.max_pool_connections == 3  # the user's choice wins


def test_bool_reads_one_page(s3d):
    s3d["k"] = 1
    with count_s3_requests(s3d.store) as seen:
        assert s3d
    assert seen == {"ListObjectsV2": 1}


def test_setdefault_is_one_conditional_put_when_absent(s3d):
    with count_s3_requests(s3d.store) as seen:
        assert s3d.setdefault("k", 1) == 1
    assert seen == {"PutObject": 1}


def test_missing_bucket_is_a_clear_error(s3_options):
    d = S3Dict("no-such-bucket", "x", create_bucket=False, **s3_options)
    with pytest.raises(RootNotFoundError, match="bucket 'no-such-bucket' does not exist"):
        d["k"] = 1
    with pytest.raises(RootNotFoundError, match="does not exist"):
        d["k"]


def test_create_bucket_when_asked(s3_options):
    d = S3Dict("made-by-persidict", "x", create_bucket=True, **s3_options)
    d["k"] = 1
    assert d["k"] == 1


@pytest.fixture(scope="module")
def auth_endpoint():
    """A second moto server that checks credentials (its own process: auth is global in moto)."""
    port = free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="0")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    wait_for(listening, "the second moto server")
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=30)


def test_wrong_credentials_are_a_clear_error(auth_endpoint):
    d = open_dict(f"s3://{BUCKET}/x", endpoint_url=auth_endpoint, key="wrong", secret="wrong")
    with pytest.raises(PermissionError, match=r"S3 refused access to s3://.*InvalidAccessKeyId"):
        d["k"] = 1
    with pytest.raises(PermissionError, match="InvalidAccessKeyId"):
        len(d)


def test_missing_credentials_are_a_clear_error(moto_endpoint):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent")
    env.update(AWS_EC2_METADATA_DISABLED="true")
    code = (
        "from persidict import open_dict\n"
        f"d = open_dict('s3://{BUCKET}/creds', endpoint_url='{moto_endpoint}')\n"
        "try:\n    d['k'] = 1\n"
        "except PermissionError as exc:\n    print('refused:', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.startswith("refused: no S3 credentials for s3://"), out.stderr


def test_unreachable_endpoint_fails_after_the_configured_retries():
    # How long that takes is measured by scripts/bench_failures.py.
    d = open_dict(f"s3://{BUCKET}/x", endpoint_url="http://127.0.0.1:9", key="k", secret="s")
    with count_s3_requests(d.store) as sent, pytest.raises(ConnectionError, match="cannot reach"):
        d["k"] = 1
    assert sent == {"PutObject": MAX_ATTEMPTS}  # a refused connection surely sent nothing


def test_timestamps_come_from_one_source_after_set_mtime(s3d):
    """``timestamp``, ``keys_and_timestamps`` and ``oldest_keys`` agree after ``set_mtime``."""
    s3d["old"] = 1
    s3d["new"] = 2
    s3d.store.set_mtime(s3d._path("new"), 1.0)  # as `touch -d 1970...` through the mount
    listed = dict(s3d.keys_and_timestamps())
    assert {k: s3d.timestamp(k) for k in listed} == listed
    assert s3d.oldest_keys(max_n=1) == [min(listed, key=listed.__getitem__)]


@pytest.mark.parametrize("view", ["items", "values", "items_and_timestamps", "keys"])
def test_iteration_skips_keys_deleted_under_it(s3d, view):
    for i in range(5):
        s3d[f"k{i}"] = i
    seen = []
    for n, got in enumerate(getattr(s3d, view)()):
        seen.append(got)
        if n == 0:
            for i in range(5):
                s3d.discard(f"k{i}")  # another process empties the dict mid-iteration
    assert 1 <= len(seen) <= 5

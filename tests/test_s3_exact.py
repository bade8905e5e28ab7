"""No blind resend: a write whose reply is lost meets another writer before it is settled.

Each test stalls one request of a writer (the proxy forwards it, the server
applies it, the reply never comes), lets a second writer act while the first
waits for its timeout, and checks that the first never sends its request again
over the second's acknowledged write: it reports the true outcome, or
OutcomeUnknownError and leaves the second writer's effect in place.
"""

from __future__ import annotations

import threading
import time
import uuid

import boto3
import pytest

from persidict import OutcomeUnknownError, S3Dict
from tests.conftest import BUCKET
from tests.fault_fixtures import proxy_fixture  # noqa: F401
from tests.waiting import wait_for


@pytest.fixture
def pair(proxy, s3_options):
    """(dict through the proxy, dict straight to moto) on one fresh prefix."""
    prefix = f"exact-{uuid.uuid4().hex[:10]}"
    options = dict(s3_options)
    direct = S3Dict(BUCKET, prefix, create_bucket=False, **options)
    # The other writer acts while the stalled request waits out its timeout: 2 s is
    # ample for a few requests to moto on a loaded machine (their probe is done first).
    options.update(endpoint_url=proxy.url, request_timeout=2.0)
    faulty = S3Dict(BUCKET, prefix, create_bucket=False, **options)
    faulty.store.check_conditional_writes()  # the once-per-process probes, not under test
    direct.store.check_conditional_writes()
    proxy.clear()
    yield faulty, direct
    proxy.clear()


def while_stalled(proxy, method, action, meanwhile):
    """Run ``action`` with its first ``method`` request stalled after the server applied it;
    run ``meanwhile`` once it has; the action's result or exception."""
    proxy.inject("stall", when=lambda r: r.method == method)
    outcome: list = []

    def act():
        try:
            outcome.append(action())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=act)
    thread.start()
    wait_for(
        lambda: any(r.fault == "stall" and r.status for r in list(proxy.seen)),
        "the stalled request to reach the server",
    )
    meanwhile()
    thread.join(60)
    assert not thread.is_alive()
    return outcome[0]


def test_a_stalled_plain_write_does_not_undo_a_later_transform(proxy, pair):
    faulty, direct = pair

    def write():
        faulty["k"] = 10

    result = while_stalled(
        proxy, "PUT", write, lambda: direct.transform_item("k", transformer=lambda v: v + 1)
    )
    assert result is None  # applied: the transform's version chains after it
    assert direct["k"] == 11
    assert [r.method for r in proxy.seen].count("PUT") == 1  # never sent again


def test_a_stalled_plain_write_is_unknown_after_an_unchained_write(proxy, pair):
    faulty, direct = pair

    def write():
        faulty["k"] = 10

    result = while_stalled(proxy, "PUT", write, lambda: direct.__setitem__("k", 20))
    assert isinstance(result, OutcomeUnknownError), repr(result)
    assert direct["k"] == 20  # the acknowledged write survives


def test_a_stalled_delete_does_not_remove_a_later_create(proxy, pair):
    faulty, direct = pair
    direct["k"] = 1

    def delete():
        del faulty["k"]

    result = while_stalled(proxy, "DELETE", delete, lambda: direct.setdefault("k", 5))
    assert isinstance(result, OutcomeUnknownError), repr(result)
    assert direct["k"] == 5


def test_a_stalled_clear_does_not_remove_a_later_write(proxy, pair):
    faulty, direct = pair
    sub_f, sub_d = faulty.get_subdict("sub"), direct.get_subdict("sub")
    sub_d["a"] = 1

    def clear():
        sub_f.clear()

    result = while_stalled(proxy, "POST", clear, lambda: sub_d.__setitem__("a", 2))  # DeleteObjects
    assert result is None or isinstance(result, OutcomeUnknownError), repr(result)
    assert sub_d["a"] == 2


def test_a_create_whose_value_was_popped_meanwhile_is_unknown(proxy, pair):
    faulty, direct = pair
    popped = []
    result = while_stalled(
        proxy, "PUT", lambda: faulty.setdefault("k", 1), lambda: popped.append(direct.pop("k"))
    )
    assert popped == [1]
    assert isinstance(result, OutcomeUnknownError), repr(result)
    assert "k" not in direct  # never inserted twice


def test_a_create_popped_and_created_again_meanwhile_is_unknown(proxy, pair):
    faulty, direct = pair

    def pop_and_create():
        assert direct.pop("k") == 1
        direct.setdefault("k", 2)

    result = while_stalled(proxy, "PUT", lambda: faulty.setdefault("k", 1), pop_and_create)
    # Not "not inserted, here is 2": ours was inserted (and popped).
    assert isinstance(result, OutcomeUnknownError), repr(result)
    assert direct["k"] == 2


def test_a_pop_does_not_delete_a_plain_clients_rewrite_of_the_same_bytes(proxy, pair, s3_options):
    faulty, direct = pair
    client = boto3.client(
        "s3",
        endpoint_url=s3_options["endpoint_url"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    key = f"{direct.store.prefix}/k.txt"
    text = S3Dict(**{**faulty.get_params(), "serialization_format": "txt"}, create_bucket=False)
    client.put_object(Bucket=BUCKET, Key=key, Body=b"same")  # no write id

    def rewrite():
        client.put_object(Bucket=BUCKET, Key=key, Body=b"same")

    result = while_stalled(proxy, "DELETE", lambda: text.pop("k"), rewrite)
    assert isinstance(result, OutcomeUnknownError), repr(result)
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"same"


def test_a_pop_does_not_delete_a_restore_that_copied_the_popped_objects_metadata(
    proxy, pair, s3_options
):
    faulty, direct = pair
    client = boto3.client(
        "s3",
        endpoint_url=s3_options["endpoint_url"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    key = f"{direct.store.prefix}/k.pkl"
    direct["k"] = 1
    backup = {"Bucket": BUCKET, "Key": f"{key}.backup"}
    client.copy_object(**backup, CopySource={"Bucket": BUCKET, "Key": key})  # ids and all
    written = client.head_object(Bucket=BUCKET, Key=key)["LastModified"].timestamp()
    # LastModified counts seconds: the restore must come in a later one to differ
    wait_for(lambda: time.time() >= written + 1.05, "the next second")

    def restore():
        client.copy_object(Bucket=BUCKET, Key=key, CopySource=backup)  # metadata copied

    result = while_stalled(proxy, "DELETE", lambda: faulty.pop("k"), restore)
    assert isinstance(result, OutcomeUnknownError), repr(result)
    assert direct["k"] == 1  # the restore, acknowledged, survives

"""GCS through its own preconditions, against fake-gcs-server on 127.0.0.1.

The behavioural suites (the store contract, the races, the concurrency and
view tests) run on GCS through the shared fixtures; here are what only GCS
has: generations as ETags, the endpoint option, a missing bucket, secrets
kept out of pickles, the emulator's ignored DELETE precondition, and lost
replies settled by write ids (the fault proxy in front of the emulator).
"""

from __future__ import annotations

import pickle
import uuid

import pytest

from persidict import PersiDict, open_dict
from persidict.cli import UsageError, build_parser, check_options, storage_options
from persidict.errors import ConditionalWritesUnsupportedError
from persidict.fault_proxy import FAULTS, FaultProxy, Request
from persidict.storage.base import RootNotFoundError
from persidict.storage.gcs import GCSStore
from tests.conftest import BUCKET


@pytest.fixture
def url() -> str:
    return f"gs://{BUCKET}/{uuid.uuid4().hex[:12]}"


def test_open_dict_gives_a_gcs_store_whose_etag_is_the_generation(gcs_options, url):
    d = open_dict(url, **gcs_options)
    assert isinstance(d, PersiDict) and isinstance(d.store, GCSStore)
    d["k"] = "same"
    first = d.etag("k")
    d["k"] = "same"  # equal bytes, a new version
    assert first.isdigit() and d.etag("k").isdigit() and d.etag("k") != first
    assert d.store.info(d._path("k")).etag == d.etag("k")


def test_a_missing_bucket_is_root_not_found_naming_it(gcs_options):
    d = open_dict("gs://no-such-bucket/p", **gcs_options)
    for attempt in (lambda: list(d), lambda: d["k"], lambda: len(d)):
        with pytest.raises(RootNotFoundError, match="gs://no-such-bucket"):
            attempt()


def test_the_endpoint_option_is_the_one_used(gcs_options, url):
    options = dict(gcs_options, endpoint_url="http://127.0.0.1:9", request_timeout=1)
    with pytest.raises(ConnectionError, match="127.0.0.1:9"):
        open_dict(url, **options)["k"] = 1
    args = build_parser().parse_args(["ls", url, "--endpoint-url", gcs_options["endpoint_url"]])
    assert storage_options(args, url)["endpoint_url"] == gcs_options["endpoint_url"]


def test_an_unknown_option_is_a_usage_error_on_gcs(url):
    with pytest.raises(UsageError, match="endpont_url"):
        check_options(build_parser().parse_args(["ls", url, "-o", "endpont_url=x"]))
    check_options(build_parser().parse_args(["ls", url, "-o", "request_timeout=3"]))


def test_credentials_stay_out_of_pickles(gcs_options, url):
    secret = {"type": "authorized_user", "refresh_token": "do-not-ship-me"}
    store = GCSStore(BUCKET, "p", **dict(gcs_options, token=secret))
    assert b"do-not-ship-me" not in pickle.dumps(store)
    assert pickle.loads(pickle.dumps(store)).storage_options.get("token") is None
    shipped = GCSStore(BUCKET, "p", **dict(gcs_options, token=secret, ship_credentials=True))
    assert b"do-not-ship-me" in pickle.dumps(shipped)
    d = open_dict(url, **gcs_options)  # "anon" is a mode, not a secret: it travels
    d["k"] = 1
    assert pickle.loads(pickle.dumps(d))["k"] == 1


def test_the_emulator_ignores_conditional_deletes_so_they_are_refused(gcs_options, url):
    d = open_dict(url, **gcs_options)
    d["k"] = 1
    with pytest.raises(ConditionalWritesUnsupportedError, match="ifGenerationMatch on DELETE"):
        d.pop("k")
    assert d["k"] == 1
    assert d.setdefault("n", 2) == 2 and d.setdefault("n", 3) == 2  # creates are honoured
    del d["k"]  # plain deletes work
    assert "k" not in d
    everything = GCSStore(BUCKET, "", **gcs_options)
    assert [p for p in everything.iter_paths() if "probe" in p] == []


@pytest.fixture(scope="module")
def proxy(gcs_options):
    with FaultProxy(gcs_options["endpoint_url"]) as p:
        yield p


def an_upload(req: Request) -> bool:
    return req.method == "POST" and "/upload/" in req.target


def set_existing(d) -> object:
    d["k"] = 2
    return 2


def increment(d) -> object:
    return d.transform_item("k", transformer=lambda v: v + 1).new_value


OPERATIONS = {
    "set": (set_existing, {"k": 2}),
    "setdefault": (lambda d: d.setdefault("new", 7), {"k": 1, "new": 7}),
    "transform_item": (increment, {"k": 2}),
    "append-only set": (None, {"k": 1, "new": 5}),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", list(OPERATIONS))
def test_a_broken_upload_ends_in_the_true_outcome(gcs_options, proxy, url, fault, name):
    options = dict(gcs_options, endpoint_url=proxy.url, request_timeout=2.0)
    d = open_dict(url, **options)
    d["k"] = 1
    d.store.check_conditional_writes()  # the probe, before any fault is armed
    operation, expected = OPERATIONS[name]
    proxy.clear()
    proxy.inject(fault, an_upload)
    if operation is None:
        appender = open_dict(url, append_only=True, **options)
        appender["new"] = 5
    else:
        assert operation(d) == expected.get("new", expected["k"])
    assert proxy.pending() == 0  # the fault fired
    assert dict(d.items()) == {(k,): v for k, v in expected.items()}

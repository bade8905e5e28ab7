"""Azure Blob through its own preconditions, against azurite on 127.0.0.1.

The behavioural suites (the store contract, the races, the concurrency,
view and mount tests) run on Azure through the shared fixtures; here are
what only Azure has: URL forms, ETags, the endpoint option, a missing
container, secrets kept out of pickles, a quiet SDK log, and lost replies
settled by write ids (the fault proxy in front of azurite).
"""

from __future__ import annotations

import logging
import pickle
import uuid

import pytest

from persidict import PersiDict, open_dict
from persidict.cli import UsageError, build_parser, check_options, storage_options
from persidict.fault_proxy import FAULTS, FaultProxy, Request
from persidict.storage.azure import AzureStore
from persidict.storage.base import RootNotFoundError
from persidict.testing import AZURITE_KEY
from tests.conftest import BUCKET


@pytest.fixture
def url() -> str:
    return f"az://{BUCKET}/{uuid.uuid4().hex[:12]}"


def test_az_and_abfs_urls_give_an_azure_store(azure_options, url):
    d = open_dict(url, **azure_options)
    assert isinstance(d, PersiDict) and isinstance(d.store, AzureStore)
    d["k"] = "same"
    first = d.etag("k")
    d["k"] = "same"  # equal bytes, a new version
    assert d.etag("k") != first and d.store.info(d._path("k")).etag == d.etag("k")
    prefix = url.removeprefix(f"az://{BUCKET}/")
    for other in (f"abfs://{BUCKET}/{prefix}", f"abfs://{BUCKET}@devstoreaccount1.dfs/{prefix}"):
        assert open_dict(other, **azure_options)["k"] == "same"


def test_a_write_into_a_folder_just_listed_is_seen_at_once(azure_options, url):
    d = open_dict(url, **azure_options)
    d["f", "a"] = 1
    assert list(d.keys()) == [("f", "a")]
    d["f", "b"] = 2  # adlfs answered the info after this from its listing cache
    assert sorted(d.keys()) == [("f", "a"), ("f", "b")] and d["f", "b"] == 2


def test_a_missing_container_is_root_not_found_naming_it(azure_options):
    d = open_dict("az://no-such-container/p", **azure_options)
    for attempt in (lambda: list(d), lambda: d["k"], lambda: len(d)):
        with pytest.raises(RootNotFoundError, match="az://no-such-container"):
            attempt()


def test_the_endpoint_option_is_the_one_used(azure_options, url):
    options = dict(azure_options, endpoint_url="http://127.0.0.1:9/x", request_timeout=1)
    with pytest.raises(ConnectionError, match="127.0.0.1:9"):
        open_dict(url, **options)["k"] = 1
    args = build_parser().parse_args(["ls", url, "--endpoint-url", azure_options["endpoint_url"]])
    assert storage_options(args, url)["endpoint_url"] == azure_options["endpoint_url"]


def test_an_unknown_option_is_refused(azure_options, url):
    with pytest.raises(TypeError, match="acount_key"):
        open_dict(url, acount_key="x", **azure_options)
    with pytest.raises(UsageError, match="acount_key"):
        check_options(build_parser().parse_args(["ls", url, "-o", "acount_key=x"]))


def test_keys_stay_out_of_pickles(azure_options, url, monkeypatch):
    d = open_dict(url, **azure_options)
    d["k"] = 1
    assert AZURITE_KEY.encode() not in pickle.dumps(d)
    assert pickle.loads(pickle.dumps(d))["k"] == 1  # the key from AZURE_STORAGE_ACCOUNT_KEY
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_KEY")
    with pytest.raises(PermissionError, match=url):
        pickle.loads(pickle.dumps(d))["k"]  # no credentials here: refused, naming the key
    shipped = open_dict(url, ship_credentials=True, **azure_options)
    assert AZURITE_KEY.encode() in pickle.dumps(shipped)
    assert pickle.loads(pickle.dumps(shipped))["k"] == 1


def test_the_sdk_logs_no_headers_at_info(azure_options, url, caplog):
    with caplog.at_level(logging.INFO):
        d = open_dict(url, **azure_options)
        d["k"] = 1
        assert d["k"] == 1
    assert not [r for r in caplog.records if r.name.startswith("azure")]


@pytest.fixture(scope="module")
def proxy(azure_options):
    upstream = azure_options["endpoint_url"].rsplit("/", 1)[0]
    with FaultProxy(upstream) as p:
        yield p


def a_write(req: Request) -> bool:
    return req.method in ("PUT", "DELETE") and "restype=container" not in req.target


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
    "pop": (lambda d: d.pop("k"), {}),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", list(OPERATIONS))
def test_a_broken_write_ends_in_the_true_outcome(azure_options, proxy, url, fault, name):
    account = azure_options["endpoint_url"].rsplit("/", 1)[1]
    endpoint = f"{proxy.url}/{account}"
    options = dict(azure_options, endpoint_url=endpoint, request_timeout=2.0)
    d = open_dict(url, **options)
    d["k"] = 1
    d.store.check_conditional_writes()  # the probe, before any fault is armed
    operation, expected = OPERATIONS[name]
    proxy.clear()
    proxy.inject(fault, a_write)
    if operation is None:
        appender = open_dict(url, append_only=True, **options)
        appender["new"] = 5
    elif name == "pop":
        try:
            assert operation(d) == 1
        except OSError as exc:  # a lost reply to a conditional delete may stay unknown
            assert type(exc).__name__ == "OutcomeUnknownError" and exc.value == 1
            if "k" in d:  # it was not applied: nothing else changed
                expected = {"k": 1}
    else:
        assert operation(d) == expected.get("new", expected["k"])
    assert proxy.pending() == 0  # the fault fired
    assert dict(d.items()) == {(k,): v for k, v in expected.items()}

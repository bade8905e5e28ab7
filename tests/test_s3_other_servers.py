"""A second S3 implementation: npm's s3rver, which ignores conditional headers.

Conditional operations there would be silently wrong (two winners of a
setdefault), so the store detects it once per bucket and process and refuses
them with an error naming the endpoint; plain get/set/del keep working.
"""

from __future__ import annotations

import shutil

import pytest

from persidict import S3Dict
from persidict.conditions import ETAG_IS_THE_SAME, ITEM_NOT_AVAILABLE
from persidict.storage.s3 import ConditionalWritesUnsupportedError
from persidict.testing import s3rver_server

pytestmark = pytest.mark.skipif(
    shutil.which("s3rver") is None, reason="npm's s3rver is not installed (scripts/setup-venv)"
)


@pytest.fixture(scope="module")
def s3rver(tmp_path_factory):
    with s3rver_server(str(tmp_path_factory.mktemp("s3rver"))) as endpoint:
        yield endpoint


@pytest.fixture
def d(s3rver, request):
    return S3Dict(
        "persidict-s3rver",
        request.node.name[:40],
        endpoint_url=s3rver,
        key="S3RVER",
        secret="S3RVER",
        client_kwargs={"region_name": "us-east-1"},
    )


def test_plain_get_set_delete_work(d):
    d["k"] = 1
    d["k"] = 2
    assert d["k"] == 2 and "k" in d
    d.setitems({"a": 1, "b": 2})
    assert sorted(d.keys()) == [("a",), ("b",), ("k",)]
    del d["k"]
    assert "k" not in d


@pytest.mark.parametrize(
    "operation",
    [
        lambda d: d.setdefault("k", 1),
        lambda d: d.pop("k", None),
        lambda d: d.transform_item("k", transformer=lambda v: 1),
        lambda d: d.setdefault_if(
            "k", default_value=1, condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE
        ),
    ],
    ids=["setdefault", "pop", "transform_item", "setdefault_if"],
)
def test_conditional_operations_are_refused_naming_the_endpoint(d, s3rver, operation):
    d["k"] = 0  # pop and transform_item reach their conditional write
    with pytest.raises(ConditionalWritesUnsupportedError, match=s3rver) as caught:
        operation(d)
    assert isinstance(caught.value, OSError) and "ignores conditional headers" in str(caught.value)
    assert d["k"] == 0  # nothing was written


def test_append_only_writes_are_refused(d):
    d.append_only = True
    with pytest.raises(ConditionalWritesUnsupportedError):
        d["new"] = 1
    assert "new" not in d


def test_the_probe_leaves_nothing_in_the_bucket(d):
    d["k"] = 1
    with pytest.raises(ConditionalWritesUnsupportedError):
        d.setdefault("j", 1)
    requests = d.store.requests
    everything = requests.run(lambda: requests.request("list_objects_v2", Prefix="")).get(
        "Contents", []
    )
    assert [o["Key"] for o in everything if "persidict-probe" in o["Key"]] == []

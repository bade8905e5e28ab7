"""Results of conditional operations as persidict 0.309.0 reports them (issue 22)."""

from __future__ import annotations

import pytest

from persidict import (
    ANY_ETAG,
    DELETE_CURRENT,
    ETAG_HAS_CHANGED,
    ETAG_IS_THE_SAME,
    ITEM_NOT_AVAILABLE,
    EmptyDict,
    LocalDict,
    WriteOnceDict,
    open_dict,
)
from persidict.errors import MutationPolicyError


@pytest.fixture(params=["local", "memory", "s3"])
def d(request, tmp_path):
    if request.param == "local":
        return open_dict(str(tmp_path / "store"))
    if request.param == "memory":
        return LocalDict()
    return open_dict("s3://persidict-tests/results", **request.getfixturevalue("s3_options"))


def test_deleting_a_present_key_expected_absent_is_refused_not_reported_done(d):
    d["key1"] = "value"
    result = d.set_item_if(
        "key1", value=DELETE_CURRENT, condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE
    )
    assert not result.condition_was_satisfied
    assert result.actual_etag == d.etag("key1")  # what it found there
    assert d["key1"] == "value"


def test_deleting_an_absent_key_expected_absent_holds(d):
    result = d.set_item_if(
        "gone", value=DELETE_CURRENT, condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE
    )
    assert result.condition_was_satisfied and result.resulting_etag is ITEM_NOT_AVAILABLE


@pytest.mark.parametrize("method", ["set_item_if", "setdefault_if"])
def test_an_empty_dict_reports_that_it_kept_nothing(method):
    value = {"value": "v"} if method == "set_item_if" else {"default_value": "v"}
    result = getattr(EmptyDict(), method)(
        "k", **value, condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE
    )
    assert result.condition_was_satisfied and result.actual_etag is ITEM_NOT_AVAILABLE
    assert result.resulting_etag is ITEM_NOT_AVAILABLE and result.new_value is ITEM_NOT_AVAILABLE


def test_an_empty_dict_transforms_nothing_and_calls_no_transformer():
    called = []
    result = EmptyDict().transform_item("k", transformer=lambda v: called.append(v) or 1)
    assert result.resulting_etag is ITEM_NOT_AVAILABLE and result.new_value is ITEM_NOT_AVAILABLE
    assert called == []
    with pytest.raises(ValueError, match="invalid key part"):
        EmptyDict().transform_item("a b", transformer=lambda v: 1)


def test_a_write_once_dict_refuses_set_item_if_and_keeps_the_value():
    d = WriteOnceDict(wrapped_dict=LocalDict(append_only=True))
    with pytest.raises(MutationPolicyError, match="use setdefault_if"):
        d.set_item_if("k", value="v", condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE)
    assert "k" not in d


@pytest.mark.parametrize(("given", "kept"), [(None, None), (0, None), (-3, None), (128, 128)])
def test_local_dict_keeps_and_reports_prune_interval(given, kept):
    assert LocalDict().get_params()["prune_interval"] == 64
    assert LocalDict(prune_interval=given).get_params()["prune_interval"] == kept


@pytest.mark.parametrize("condition", [ETAG_IS_THE_SAME, ETAG_HAS_CHANGED, ANY_ETAG])
def test_discard_if_on_an_append_only_dict_is_refused_whatever_the_condition(tmp_path, condition):
    d = open_dict(str(tmp_path / "store"), append_only=True)
    d["k"] = 1
    for key in ("k", "absent"):
        with pytest.raises(MutationPolicyError, match="append-only"):
            d.discard_if(key, condition=condition, expected_etag="e")
    assert d["k"] == 1

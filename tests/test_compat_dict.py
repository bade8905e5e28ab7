"""The reference library's PersiDict API, on every backend (local, memory://, S3)."""

from __future__ import annotations

import pickle

import pytest

from persidict import (
    ALWAYS_RETRIEVE,
    ANY_ETAG,
    DELETE_CURRENT,
    ETAG_HAS_CHANGED,
    ETAG_IS_THE_SAME,
    ITEM_NOT_AVAILABLE,
    KEEP_CURRENT,
    NEVER_RETRIEVE,
    VALUE_NOT_RETRIEVED,
    ConcurrencyConflictError,
    MutationPolicyError,
    NonEmptySafeStrTuple,
)
from tests.waiting import wait_for


def test_keys_come_back_as_non_empty_safe_str_tuples_equal_to_tuples(d):
    d["a", "b"] = 1
    (key,) = list(d)
    assert isinstance(key, NonEmptySafeStrTuple)
    assert key == ("a", "b") and hash(key) == hash(("a", "b"))


def test_listed_keys_are_the_keys_the_validating_constructor_builds(d):
    d["k"] = d["a", "b"] = d["a", "c", "d"] = 1
    for listed in (sorted(d), sorted(d.get_subdict("a")), [*d.keys(), *(k for k, _ in d.items())]):
        for key in listed:
            built = NonEmptySafeStrTuple(*key)
            assert type(key) is NonEmptySafeStrTuple
            assert (key, hash(key), repr(key), pickle.loads(pickle.dumps(key))) == (
                built,
                hash(built),
                repr(built),
                built,
            )
    assert sorted(d.get_subdict("a")) == [("b",), ("c", "d")]
    assert "k" in list(d) and ("k",) in list(d)


def test_jokers_keep_or_delete_the_current_value(d):
    d["k"] = 1
    d["k"] = KEEP_CURRENT
    assert d["k"] == 1
    d["absent"] = KEEP_CURRENT
    assert "absent" not in d
    d["k"] = DELETE_CURRENT
    assert "k" not in d
    d["k"] = DELETE_CURRENT  # absent: nothing to do


def test_discard_says_whether_the_key_was_there(d):
    d["k"] = 1
    assert d.discard("k") is True
    assert d.discard("k") is False
    assert d.delete_if_exists("k") is False


def test_in_place_or_updates(d):
    d["a"] = 1
    d |= {"b": 2, ("c", "d"): 3}
    assert dict(d.items()) == {("a",): 1, ("b",): 2, ("c", "d"): 3}


def test_append_only_refuses_overwrite_and_delete(backend):
    d = backend.open(append_only=True)
    d["k"] = 1
    with pytest.raises(MutationPolicyError, match=r"append-only.*'k'") as info:
        d["k"] = 2
    assert info.value.policy == "append-only"
    assert isinstance(info.value, TypeError)
    for forbidden in (lambda: d.__delitem__("k"), lambda: d.discard("k"), d.clear):
        with pytest.raises(MutationPolicyError):
            forbidden()
    with pytest.raises(MutationPolicyError):
        d["k"] = DELETE_CURRENT
    assert d["k"] == 1
    d["k"] = KEEP_CURRENT  # not a change


def test_base_class_for_values_is_checked_on_write(backend):
    d = backend.open(base_class_for_values=int)
    d["n"] = 1
    with pytest.raises(TypeError, match=r"'name'.*str.*int"):
        d["name"] = "Alice"
    assert "name" not in d


def test_base_class_for_values_is_checked_on_read(backend):
    backend.open()["n"] = "not an int"
    with pytest.raises(TypeError, match=r"n\.pkl.*str.*int"):
        backend.open(base_class_for_values=int)["n"]


def test_timestamps_follow_writes(backend):
    d = backend.open()
    d["old"] = 1

    def stamped_later() -> bool:
        d["new"] = 2
        return d.timestamp("new") > d.timestamp("old")

    # S3's LastModified has 1 s resolution: write until the store's clock has moved on
    wait_for(stamped_later, "a later timestamp")
    assert d.timestamp("new") > d.timestamp("old")
    assert d.oldest_keys() == [("old",), ("new",)]
    assert d.newest_keys(max_n=1) == [("new",)]
    assert d.newest_values() == [2, 1] and d.oldest_values(max_n=1) == [1]
    assert d.oldest_keys(max_n=0) == []
    stamps = {("old",): d.timestamp("old"), ("new",): d.timestamp("new")}
    assert dict(d.keys_and_timestamps()) == stamps
    assert sorted(v for v, _ in d.values_and_timestamps()) == [1, 2]
    assert {(k, v) for k, v, _ in d.items_and_timestamps()} == {(("old",), 1), (("new",), 2)}
    with pytest.raises(KeyError):
        d.timestamp("absent")


def test_random_key_is_none_when_empty(d):
    assert d.random_key() is None
    d["a"] = d["b"] = 1
    assert {d.random_key() for _ in range(30)} == {("a",), ("b",)}


def test_get_subdict_sees_keys_under_a_prefix_and_creates_nothing(d):
    empty = d.get_subdict(("no", "such"))
    assert len(empty) == 0 and not empty
    assert list(d.store.walk()) == [] and d.store.listdir() == ([], [])
    d["x", "y", "z"] = 1
    sub = d.get_subdict("x")
    assert list(sub) == [("y", "z")] and sub["y", "z"] == 1
    sub["w"] = 2
    assert d["x", "w"] == 2
    assert d.get_subdict(()) == d


def test_subdicts_maps_first_parts_to_sub_dicts(d):
    d["a", "1"] = 1
    d["b", "c", "2"] = 2
    d["top"] = 3
    subs = d.subdicts()
    assert set(subs) == {"a", "b"}
    assert dict(subs["b"].items()) == {("c", "2"): 2}


def test_get_params_reopen_the_same_data(backend):
    d = backend.open(base_class_for_values=int)
    d["k"] = 1
    params = d.get_params()
    assert params["base_class_for_values"] is int and params["append_only"] is False
    if backend.name != "memory":  # memory:// dicts are plain PersiDicts over a store
        reopened = type(d)(**params)
        assert reopened["k"] == 1 and reopened == d


def test_dicts_pickle_as_their_address_with_policies(backend):
    d = backend.open(append_only=True, base_class_for_values=int).get_subdict("p")
    d["k"] = 1
    clone = pickle.loads(pickle.dumps(d))
    assert clone["k"] == 1 and clone.append_only and clone.base_class_for_values is int


# ETags and conditional operations
def test_etag_changes_on_every_write(d):
    d["k"] = 1
    first = d.etag("k")
    d["k"] = 2
    assert d.etag("k") != first
    with pytest.raises(KeyError):
        d.etag("absent")


def test_get_with_etag_reads_value_and_etag_together(d):
    d["k"] = 1
    r = d.get_with_etag("k")
    assert (r.new_value, r.actual_etag) == (1, d.etag("k"))
    absent = d.get_with_etag("absent")
    assert absent.new_value is ITEM_NOT_AVAILABLE and absent.actual_etag is ITEM_NOT_AVAILABLE


def test_get_item_if_skips_the_value_when_the_etag_is_unchanged(d):
    d["k"] = 1
    etag = d.etag("k")
    same = d.get_item_if("k", condition=ETAG_IS_THE_SAME, expected_etag=etag)
    assert same.condition_was_satisfied and same.new_value is VALUE_NOT_RETRIEVED
    d["k"] = 2
    changed = d.get_item_if("k", condition=ETAG_HAS_CHANGED, expected_etag=etag)
    assert changed.condition_was_satisfied and changed.new_value == 2
    never = d.get_item_if(
        "k", condition=ANY_ETAG, expected_etag=etag, retrieve_value=NEVER_RETRIEVE
    )
    assert never.new_value is VALUE_NOT_RETRIEVED and never.actual_etag == d.etag("k")


def test_set_item_if_replaces_only_the_expected_version(d):
    d["k"] = 1
    etag = d.etag("k")
    done = d.set_item_if("k", value=2, condition=ETAG_IS_THE_SAME, expected_etag=etag)
    assert done.condition_was_satisfied and done.value_was_mutated
    assert done.resulting_etag == d.etag("k") and d["k"] == 2
    stale = d.set_item_if("k", value=3, condition=ETAG_IS_THE_SAME, expected_etag=etag)
    assert not stale.condition_was_satisfied and not stale.value_was_mutated
    assert stale.new_value == 2 and d["k"] == 2  # the refusal reports what is there


def test_set_item_if_with_item_not_available_inserts_only_if_absent(d):
    r = d.set_item_if("k", value=1, condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE)
    assert r.condition_was_satisfied and r.actual_etag is ITEM_NOT_AVAILABLE
    r = d.set_item_if("k", value=2, condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE)
    assert not r.condition_was_satisfied and d["k"] == 1


def test_set_item_if_takes_jokers(d):
    d["k"] = 1
    etag = d.etag("k")
    kept = d.set_item_if("k", value=KEEP_CURRENT, condition=ETAG_IS_THE_SAME, expected_etag=etag)
    assert kept.condition_was_satisfied and not kept.value_was_mutated
    gone = d.set_item_if("k", value=DELETE_CURRENT, condition=ETAG_IS_THE_SAME, expected_etag=etag)
    assert gone.resulting_etag is ITEM_NOT_AVAILABLE and "k" not in d


def test_set_item_if_etag_has_changed(d):
    d["k"] = 1
    old = d.etag("k")
    refused = d.set_item_if(
        "k", value=5, condition=ETAG_HAS_CHANGED, expected_etag=old, retrieve_value=ALWAYS_RETRIEVE
    )
    assert not refused.condition_was_satisfied and refused.new_value == 1
    d["k"] = 2
    done = d.set_item_if("k", value=5, condition=ETAG_HAS_CHANGED, expected_etag=old)
    assert done.condition_was_satisfied and d["k"] == 5


def test_setdefault_if_never_changes_a_present_key(d):
    r = d.setdefault_if("k", default_value=1, condition=ANY_ETAG, expected_etag=ITEM_NOT_AVAILABLE)
    assert r.value_was_mutated and r.new_value == 1
    r = d.setdefault_if("k", default_value=2, condition=ANY_ETAG, expected_etag=ITEM_NOT_AVAILABLE)
    assert not r.value_was_mutated and r.new_value == 1 and d["k"] == 1
    with pytest.raises(TypeError):
        d.setdefault_if("j", default_value=KEEP_CURRENT, condition=ANY_ETAG, expected_etag="x")


def test_discard_if_deletes_only_the_expected_version(d):
    d["k"] = 1
    etag = d.etag("k")
    d["k"] = 2
    stale = d.discard_if("k", condition=ETAG_IS_THE_SAME, expected_etag=etag)
    assert not stale.condition_was_satisfied and d["k"] == 2
    done = d.discard_if("k", condition=ETAG_IS_THE_SAME, expected_etag=d.etag("k"))
    assert done.condition_was_satisfied and "k" not in d
    absent = d.discard_if("k", condition=ANY_ETAG, expected_etag=ITEM_NOT_AVAILABLE)
    assert absent.condition_was_satisfied and absent.actual_etag is ITEM_NOT_AVAILABLE


def test_transform_item_sees_absence_and_takes_jokers(d):
    r = d.transform_item("n", transformer=lambda v: 1 if v is ITEM_NOT_AVAILABLE else v + 1)
    assert r.new_value == 1 and r.resulting_etag == d.etag("n")
    assert d.transform_item("n", transformer=lambda v: v + 1).new_value == 2
    assert d.transform_item("n", transformer=lambda v: KEEP_CURRENT).new_value == 2
    gone = d.transform_item("n", transformer=lambda v: DELETE_CURRENT)
    assert gone.new_value is ITEM_NOT_AVAILABLE and "n" not in d


def test_transform_item_gives_up_after_n_retries(d):
    d["n"] = 0

    def meddling(value):  # another writer gets in before every commit
        d["n"] = value + 100
        return value + 1

    with pytest.raises(ConcurrencyConflictError) as info:
        d.transform_item("n", transformer=meddling, n_retries=2)
    assert info.value.attempts == 3 and isinstance(info.value, RuntimeError)


def test_unknown_conditions_are_rejected(d):
    with pytest.raises(ValueError, match="condition"):
        d.set_item_if("k", value=1, condition="same", expected_etag=ITEM_NOT_AVAILABLE)
    with pytest.raises(TypeError, match="retrieve_value"):
        d.get_item_if("k", condition=ANY_ETAG, expected_etag="e", retrieve_value=True)

"""The reference library's other names: keys, jokers, errors and the extra dict classes."""

from __future__ import annotations

import copy
import pickle
import uuid

import pytest
from conftest import BUCKET

from persidict import (
    DELETE_CURRENT,
    ETAG_IS_THE_SAME,
    ITEM_NOT_AVAILABLE,
    KEEP_CURRENT,
    AppendOnlyDictCached,
    BackendError,
    BasicS3Dict,
    ConcurrencyConflictError,
    EmptyDict,
    FileDirDict,
    LocalDict,
    MutableDictCached,
    MutationPolicyError,
    NonEmptySafeStrTuple,
    OverlappingMultiDict,
    S3Dict,
    SafeStrTuple,
    WriteOnceDict,
)


# keys, markers, errors
def test_safe_str_tuples_flatten_validate_and_equal_plain_tuples():
    key = SafeStrTuple("a", ["b", SafeStrTuple("c")])
    assert key == ("a", "b", "c") and hash(key) == hash(("a", "b", "c"))
    assert {key: 1}[("a", "b", "c")] == 1
    assert key.strings == ("a", "b", "c") and isinstance(key + ("d",), SafeStrTuple)  # noqa: RUF005
    assert pickle.loads(pickle.dumps(key)) == key and copy.deepcopy(key) == key
    assert SafeStrTuple() == ()
    with pytest.raises(ValueError, match=r"'a b'"):
        SafeStrTuple("a b")
    with pytest.raises(ValueError, match="at least one part"):
        NonEmptySafeStrTuple([])
    with pytest.raises(TypeError, match="int"):
        NonEmptySafeStrTuple("a", 1)


def test_jokers_and_flags_are_singletons_in_every_process():
    for marker in (KEEP_CURRENT, DELETE_CURRENT, ITEM_NOT_AVAILABLE, ETAG_IS_THE_SAME):
        assert pickle.loads(pickle.dumps(marker)) is marker
        assert type(marker)() is marker and copy.copy(marker) is marker


def test_errors_subclass_what_dict_users_catch():
    assert issubclass(MutationPolicyError, TypeError)
    assert issubclass(ConcurrencyConflictError, RuntimeError)
    assert issubclass(BackendError, OSError) and issubclass(BackendError, RuntimeError)


# LocalDict, EmptyDict
def test_local_dict_is_a_persidict_in_memory():
    d = LocalDict()
    d["a", "b"] = [1]
    d["a", "b"][0] = 99  # a copy comes back, as from a file
    assert d["a", "b"] == [1]
    sub = d.get_subdict("a")
    sub["c"] = 2
    assert d["a", "c"] == 2 and LocalDict(backend=d.store)["a", "c"] == 2
    etag = d.etag(("a", "c"))
    d["a", "c"] = 2
    assert d.etag(("a", "c")) != etag  # equal bytes, new version
    with pytest.raises(TypeError, match="one process"):
        pickle.dumps(d)


def test_empty_dict_accepts_writes_and_keeps_nothing():
    d = EmptyDict(base_class_for_values=int)
    d["a"] = 1
    d.update({"b": 2})
    assert len(d) == 0 and "a" not in d and list(d) == [] and d.get("a") is None
    assert d.discard("a") is False and d.random_key() is None
    with pytest.raises(KeyError):
        d["a"]
    with pytest.raises(TypeError):
        d["a"] = "not an int"  # still checked
    assert d.setdefault("a", 5) == 5 and "a" not in d


# WriteOnceDict
def test_write_once_keeps_the_first_value_and_checks_repeats(tmp_path):
    d = WriteOnceDict(wrapped_dict=FileDirDict(tmp_path, append_only=True), p_consistency_checks=1)
    d["k"] = {"x": 1}
    d["k"] = {"x": 1}
    assert d.consistency_checks_attempted == 1 and d.consistency_checks_passed == 1
    with pytest.raises(MutationPolicyError, match="write-once"):
        d["k"] = {"x": 2}
    assert d["k"] == {"x": 1} and d.consistency_checks_failed == 1
    for forbidden in (lambda: d.__delitem__("k"), lambda: d.__setitem__("k", DELETE_CURRENT)):
        with pytest.raises(MutationPolicyError):
            forbidden()
    unchecked = WriteOnceDict(wrapped_dict=FileDirDict(tmp_path, append_only=True))
    unchecked["k"] = "anything"  # ignored without a check at p=0
    assert unchecked["k"] == {"x": 1} and unchecked.get_subdict(()).p_consistency_checks == 0


def test_write_once_needs_an_append_only_dict():
    with pytest.raises(ValueError, match="append-only"):
        WriteOnceDict(wrapped_dict=LocalDict())


# OverlappingMultiDict
def test_overlapping_multi_dict_gives_one_dict_per_format_over_one_folder(tmp_path):
    m = OverlappingMultiDict(
        dict_type=FileDirDict,
        shared_subdicts_params={"base_dir": str(tmp_path)},
        json={},
        pkl={},
        txt={"base_class_for_values": str},
        csv={"base_class_for_values": str},
    )
    m.json["a"] = {"n": 1}
    m.pkl["a"] = {"n": 2}
    m.csv["a"] = "x,y"
    assert (m.json["a"], m.pkl["a"], m.csv["a"]) == ({"n": 1}, {"n": 2}, "x,y")
    assert sorted(p.name for p in tmp_path.glob("a*")) == ["a.csv", "a.json", "a.pkl"]
    with pytest.raises(TypeError, match="sub-dicts"):
        m["a"]


def test_unknown_formats_need_str_values():
    with pytest.raises(ValueError, match="unknown serialization format 'csv'"):
        LocalDict(serialization_format="csv")


# S3 classes
def test_basic_s3_dict_takes_the_reference_signature(s3_options):
    options = {k: v for k, v in s3_options.items() if k != "client_kwargs"}
    d = BasicS3Dict(
        bucket_name=f"basic-{uuid.uuid4().hex[:8]}", region="us-east-1", root_prefix="p", **options
    )
    d["a", "b"] = 1
    assert d["a", "b"] == 1 and d.root_prefix == "p"
    assert d.get_subdict("a").root_prefix == "p/a"
    params = d.get_params()
    assert params["region"] == "us-east-1" and "secret" not in params
    assert BasicS3Dict(**params, key="testing", secret="testing")["a", "b"] == 1


def record_requests(s3_store) -> list[tuple[str, int, bool]]:
    """``(operation, HTTP status, conditional?)`` of every request ``s3_store`` sends from now."""
    calls: list[tuple[str, int, bool]] = []
    pending: list[bool] = []

    def before_send(request, **_):
        pending.append("If-None-Match" in request.headers or "If-Match" in request.headers)

    def after_call(http_response, model, **_):
        calls.append((model.name, http_response.status_code, pending.pop(0)))

    client = s3_store.requests.run(s3_store.fs.set_session)
    client.meta.events.register("before-send.s3", before_send)
    client.meta.events.register("after-call.s3", after_call)
    return calls


@pytest.fixture
def s3_main(s3_options):
    return S3Dict(BUCKET, f"cached-{uuid.uuid4().hex[:8]}", **s3_options)


def test_mutable_cached_read_is_one_conditional_get_answered_304(s3_main, tmp_path):
    d = MutableDictCached(
        main_dict=s3_main,
        data_cache=FileDirDict(tmp_path / "cache"),
        etag_cache=FileDirDict(tmp_path / "etags", base_class_for_values=str),
    )
    d["k"] = list(range(1000))
    calls = record_requests(s3_main.store)
    assert d["k"] == list(range(1000))
    assert calls == [("GetObject", 304, True)]

    calls.clear()
    S3Dict(BUCKET, s3_main.root_prefix, **s3_main.store.storage_options)["k"] = "new"
    assert d["k"] == "new"  # another writer's change is seen at once
    assert calls[-1] == ("GetObject", 200, True)
    calls.clear()
    assert d["k"] == "new" and calls == [("GetObject", 304, True)]


def test_mutable_cached_follows_deletes_and_conditional_writes(s3_main, tmp_path):
    d = MutableDictCached(main_dict=s3_main, data_cache=FileDirDict(tmp_path / "cache"))
    d["k"] = 1
    etag = d.etag("k")
    assert d.set_item_if("k", value=2, condition=ETAG_IS_THE_SAME, expected_etag=etag)
    assert d["k"] == 2 and s3_main["k"] == 2
    del s3_main["k"]
    assert "k" not in d
    with pytest.raises(KeyError):
        d["k"]


def test_append_only_cached_hits_make_no_request(s3_options, tmp_path):
    main = S3Dict(BUCKET, f"ao-{uuid.uuid4().hex[:8]}", append_only=True, **s3_options)
    d = AppendOnlyDictCached(
        main_dict=main, data_cache=FileDirDict(tmp_path / "cache", append_only=True)
    )
    d["k"] = "v"
    calls = record_requests(main.store)
    assert d["k"] == "v" and "k" in d
    assert calls == []
    with pytest.raises(MutationPolicyError):
        d["k"] = "w"
    with pytest.raises(ValueError, match="append-only"):
        AppendOnlyDictCached(main_dict=LocalDict(), data_cache=LocalDict())


def test_errors_cross_process_boundaries_intact():
    for error in (
        ConcurrencyConflictError(("k",), 3),
        MutationPolicyError("append-only", "cannot overwrite key 'k'"),
        BackendError("S3 error", backend="s3", operation="GetObject"),
    ):
        clone = pickle.loads(pickle.dumps(error))
        assert type(clone) is type(error) and str(clone) == str(error)
        assert clone.__dict__ == error.__dict__


def test_digest_len_keeps_case_only_different_keys_apart(tmp_path):
    d = FileDirDict(tmp_path / "digest", digest_len=4)
    d["Eliza", "Year"] = 1
    d["eliza", "year"] = 2
    names = [p.relative_to(d.base_dir).as_posix() for p in (tmp_path / "digest").rglob("*.pkl")]
    assert len({n.lower() for n in names}) == 2  # distinct even ignoring case
    assert d["Eliza", "Year"] == 1 and sorted(d) == [("Eliza", "Year"), ("eliza", "year")]
    plain = FileDirDict(tmp_path / "plain", digest_len=0)
    plain["Eliza", "Year"] = 1
    assert (tmp_path / "plain" / "Eliza" / "Year.pkl").is_file()


def test_s3_dict_accepts_the_reference_keywords(s3_options):
    d = S3Dict(
        bucket_name=BUCKET,
        root_prefix=f"kw-{uuid.uuid4().hex[:8]}",
        base_dir="ignored-cache-dir",  # the reference's local cache; this S3Dict has none
        append_only=True,
        base_class_for_values=str,
        **s3_options,
    )
    d["k"] = "v"
    assert d["k"] == "v" and d.get_params()["append_only"] is True

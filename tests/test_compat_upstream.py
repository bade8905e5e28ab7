"""persidict 0.309.0's module paths, names and test habits work here unchanged."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys
import textwrap
from operator import eq, ne
from pathlib import Path

import pytest

import persidict
from persidict import FileDirDict, LocalDict, NonEmptySafeStrTuple, SafeStrTuple

ROOT = Path(__file__).resolve().parent.parent

# upstream module -> names it must offer, each the same object as ours (name in persidict)
UPSTREAM_MODULES = {
    "persidict.jokers_and_status_flags": [
        "KEEP_CURRENT", "DELETE_CURRENT", "ETAG_IS_THE_SAME", "ETAG_HAS_CHANGED", "ANY_ETAG",
        "ITEM_NOT_AVAILABLE", "VALUE_NOT_RETRIEVED", "ALWAYS_RETRIEVE", "NEVER_RETRIEVE",
        "IF_ETAG_CHANGED", "Joker", "KeepCurrentFlag", "DeleteCurrentFlag", "ETagValue",
        "ETagIfExists", "OperationResult", "ConditionalOperationResult", "TransformingFunction",
    ],
    "persidict.file_dir_dict": ["FileDirDict"],
    "persidict.local_dict": ["LocalDict"],
    "persidict.empty_dict": ["EmptyDict"],
    "persidict.write_once_dict": ["WriteOnceDict"],
    "persidict.cached_mutable_dict": ["MutableDictCached"],
    "persidict.cached_appendonly_dict": ["AppendOnlyDictCached"],
    "persidict.overlapping_multi_dict": ["OverlappingMultiDict"],
    "persidict.basic_s3_dict": ["BasicS3Dict"],
    "persidict.s3_dict_file_dir_cached": ["S3Dict", "S3Dict_FileDirCached"],
    "persidict.persi_dict": ["PersiDict"],
    "persidict.exceptions": ["MutationPolicyError", "ConcurrencyConflictError", "BackendError"],
    "persidict.safe_chars": [
        "SAFE_CHARS_SET", "get_safe_chars", "replace_unsafe_chars", "contains_unsafe_chars",
    ],
    "persidict.safe_str_tuple": ["SafeStrTuple", "NonEmptySafeStrTuple"],
}


@pytest.mark.parametrize("module", sorted(UPSTREAM_MODULES))
def test_upstream_module_paths_offer_our_objects(module):
    imported = importlib.import_module(module)
    for name in UPSTREAM_MODULES[module]:
        assert getattr(imported, name) is getattr(persidict, name), (module, name)


def test_status_flags_are_singletons_that_pickle_by_name():
    import pickle

    from persidict.jokers_and_status_flags import (
        CONTINUE_NORMAL_EXECUTION,
        EXECUTION_IS_COMPLETE,
        ContinueNormalExecutionFlag,
        StatusFlag,
    )

    assert ContinueNormalExecutionFlag() is CONTINUE_NORMAL_EXECUTION
    assert isinstance(EXECUTION_IS_COMPLETE, StatusFlag)
    assert CONTINUE_NORMAL_EXECUTION is not EXECUTION_IS_COMPLETE
    assert pickle.loads(pickle.dumps(CONTINUE_NORMAL_EXECUTION)) is CONTINUE_NORMAL_EXECUTION


def test_version_comes_from_the_package_metadata():
    assert persidict.__version__ == importlib.metadata.version("persidict")


def test_safe_chars_match_what_keys_accept(tmp_path):
    from persidict.safe_chars import SAFE_CHARS_SET, contains_unsafe_chars

    d = LocalDict()
    d["".join(sorted(SAFE_CHARS_SET))] = 1  # every safe character is a valid key character
    assert len(SAFE_CHARS_SET) == 69 and not SAFE_CHARS_SET & set(" /\\\t\n#")
    assert contains_unsafe_chars("a b") and contains_unsafe_chars("a/b")
    assert not contains_unsafe_chars("Eliza_year-1965.(v2)~=")


def test_upstream_digest_suffixes_sign_and_unsign():
    from persidict.safe_str_tuple_signing import sign_safe_str_tuple, unsign_safe_str_tuple

    signed = sign_safe_str_tuple(("Eliza", "year"), 4)
    assert signed == ("Eliza_mod7", "year_qtg4")  # what persidict 0.309.0 names these files
    assert sign_safe_str_tuple(signed, 4) == signed  # signing twice adds nothing
    assert unsign_safe_str_tuple(signed, 4) == ("Eliza", "year")
    assert unsign_safe_str_tuple(("Eliza_zzzz",), 4) == ("Eliza_zzzz",)  # not a suffix of it
    assert sign_safe_str_tuple("a", 0) == ("a",)


def test_a_one_part_key_equals_its_str_and_hashes_as_its_tuple(tmp_path):
    d = FileDirDict(base_dir=tmp_path)
    d["key1"] = 1
    key = d.random_key()
    assert key == "key1" and eq("key1", key) and not ne(key, "key1")
    assert key == ("key1",) and hash(key) == hash(("key1",))
    assert key != "key2" and SafeStrTuple("a", "b") != "a" and SafeStrTuple("a", "b") != "a/b"
    assert NonEmptySafeStrTuple("a") == "a"
    assert {key: 1}[("key1",)] == 1


def test_safe_str_tuple_subclasses_that_redefine_equality_decide_it():
    class Never(SafeStrTuple):
        def __eq__(self, other):
            return False

        __hash__ = SafeStrTuple.__hash__

    class Plain(SafeStrTuple):
        pass

    assert not eq(Plain("a"), Never("a")) and not eq(Never("a"), Plain("a"))
    assert Plain("a") == SafeStrTuple("a") and SafeStrTuple("a") == Plain("a")


def test_s3_dict_file_dir_cached_takes_the_reference_arguments(s3_options):
    from conftest import BUCKET

    from persidict import S3Dict_FileDirCached

    options = {k: v for k, v in s3_options.items() if k != "client_kwargs"}
    d = S3Dict_FileDirCached(
        bucket_name=BUCKET, root_prefix="cached-compat", base_dir="ignored", digest_len=8,
        serialization_format="json", **options,
    )
    d.clear()
    d["Eliza", "year"] = 1965
    assert d["Eliza", "year"] == 1965 and d.root_prefix == "cached-compat"
    assert d.store.exists("Eliza/year.json")  # object names are the keys
    assert not os.path.exists("ignored")


USER_TEST = '''
import boto3
from moto import mock_aws

from persidict import S3Dict, S3Dict_FileDirCached


@mock_aws
def test_s3_dict_under_mock_aws():
    d = S3Dict(bucket_name="user-bucket", root_prefix="jobs")
    d["Eliza", "year"] = 1965
    assert d["Eliza", "year"] == 1965 and len(d) == 1
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket="user-bucket")
    assert [o["Key"] for o in listed["Contents"]] == ["jobs/Eliza/year.pkl"]


@mock_aws
def test_each_mock_starts_empty():
    assert boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"] == []
    d = S3Dict_FileDirCached(bucket_name="user-bucket")
    assert len(d) == 0
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket="user-bucket", Key="from_boto.txt", Body=b"hello")
    assert S3Dict(bucket_name="user-bucket", serialization_format="txt")["from_boto"] == "hello"
'''


def test_user_tests_with_moto_mock_aws_run_unchanged(tmp_path):
    # In a process of its own: mock_aws resets moto's in-memory state, which this
    # session's own moto server shares.
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TEST))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        env.pop(var, None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout

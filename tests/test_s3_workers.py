"""S3 dicts handed to worker processes: one store per process, no secrets in the pickle."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import uuid

import pytest

from persidict import FileDirDict, S3Dict
from tests.conftest import BUCKET


@pytest.fixture
def s3d(s3_options):
    return S3Dict(BUCKET, f"workers-{uuid.uuid4().hex[:10]}", **s3_options)


def test_secrets_given_as_arguments_are_not_in_the_pickle(s3_options):
    d = S3Dict(BUCKET, "secret", **dict(s3_options, key="AKIDSHOULDNOTLEAK", secret="s3cr3t-v4lue"))
    blob = pickle.dumps(d)
    assert b"AKIDSHOULDNOTLEAK" not in blob and b"s3cr3t-v4lue" not in blob


def test_shipping_credentials_is_an_explicit_choice(s3_options):
    d = S3Dict(BUCKET, "ship", **dict(s3_options, secret="s3cr3t-v4lue", ship_credentials=True))
    assert b"s3cr3t-v4lue" in pickle.dumps(d)


def test_unpickling_in_the_same_process_reuses_the_store(s3d):
    first, second = pickle.loads(pickle.dumps(s3d)), pickle.loads(pickle.dumps(s3d))
    assert first.store is second.store is s3d.store
    assert first.get_params() == s3d.get_params()


def test_different_options_get_different_stores(s3d):
    other = S3Dict(**{**s3d.get_params(), "request_timeout": 3.0})
    assert pickle.loads(pickle.dumps(other)).store is not s3d.store


def write_one(d3: S3Dict, local: FileDirDict, i: int) -> tuple[int, int]:
    d3[f"k{i}"] = i
    local[f"k{i}"] = i
    return os.getpid(), id(d3.store)


def test_a_spawn_pool_with_chunksize_1_builds_one_store_per_worker(s3d, tmp_path):
    local = FileDirDict(base_dir=str(tmp_path / "local"))
    n = 60
    with mp.get_context("spawn").Pool(2) as pool:
        seen = pool.starmap(write_one, [(s3d, local, i) for i in range(n)], chunksize=1)
    assert len(s3d) == n and len(local) == n
    assert s3d.getitems([f"k{i}" for i in range(n)]) == list(range(n))
    stores_per_worker = {}
    for pid, store_id in seen:
        stores_per_worker.setdefault(pid, set()).add(store_id)
    assert all(len(ids) == 1 for ids in stores_per_worker.values()), stores_per_worker

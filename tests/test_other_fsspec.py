"""Any other fsspec backend: plain use works; conditional operations across processes are refused.

An fsspec filesystem without a dedicated store has no precondition that
holds between processes, so ``setdefault``, ``pop``, ``transform_item``,
append-only writes and the ``*_if`` operations raise
ConditionalWritesUnsupportedError naming the URL, unless the user declares
single-process use (``single_process=True``). ``memory://`` lives in one
process, so it needs no declaration. The shared backend here is fsspec's own
local filesystem under a protocol of its own (``plainfs://``), so that
``open_dict`` and the command line reach it as they would any other backend.
"""

from __future__ import annotations

import pickle

import fsspec
import pytest
from fsspec.implementations.local import LocalFileSystem

import persidict
from persidict import ETAG_IS_THE_SAME, ITEM_NOT_AVAILABLE, PersiDict, open_dict
from persidict.errors import ConditionalWritesUnsupportedError
from persidict.storage.fsspec_store import FsspecStore


class PlainFileSystem(LocalFileSystem):
    """fsspec's local filesystem as a stand-in for any shared backend without preconditions."""

    protocol = ("plainfs",)

    def __init__(self, **kwargs) -> None:
        super().__init__(auto_mkdir=True, **kwargs)  # as object stores have no folders to make

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        if path.startswith("plainfs://"):
            path = path[len("plainfs://") :]
        return super()._strip_protocol(path)

    def unstrip_protocol(self, name: str) -> str:
        return f"plainfs://{self._strip_protocol(name)}"


fsspec.register_implementation("plainfs", PlainFileSystem, clobber=True)

CONDITIONAL = {
    "setdefault": lambda d: d.setdefault("k", 1),
    "pop": lambda d: d.pop("k", None),
    "transform_item": lambda d: d.transform_item("k", transformer=lambda v: v + 1),
    "setdefault_if": lambda d: d.setdefault_if(
        "k", default_value=1, condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE
    ),
    "discard_if": lambda d: d.discard_if(
        "k", condition=ETAG_IS_THE_SAME, expected_etag=d.etag("k")
    ),
}


@pytest.fixture
def url(tmp_path) -> str:
    return f"plainfs://{tmp_path}/store"


def test_plain_get_set_delete_and_listing_work(url):
    d = open_dict(url)
    d["a", "b"] = 1
    d["c"] = 2
    d.setitems({"e": 3})
    assert sorted(d.keys()) == [("a", "b"), ("c",), ("e",)] and d["a", "b"] == 1
    del d["c"]
    assert "c" not in d and len(d) == 2


@pytest.mark.parametrize("operation", list(CONDITIONAL.values()), ids=list(CONDITIONAL))
def test_conditional_operations_are_refused_naming_the_url(url, operation):
    d = open_dict(url)
    d["k"] = 0  # pop, transform_item and discard_if reach their conditional commit
    with pytest.raises(ConditionalWritesUnsupportedError, match="plainfs://") as caught:
        operation(d)
    assert isinstance(caught.value, persidict.BackendError)
    assert "single_process=True" in str(caught.value)
    assert d["k"] == 0  # nothing was written


def test_append_only_writes_are_refused(url):
    d = open_dict(url, append_only=True)
    with pytest.raises(ConditionalWritesUnsupportedError, match="plainfs://"):
        d["new"] = 1
    assert "new" not in d


def test_the_stores_conditional_primitives_are_refused(tmp_path):
    store = FsspecStore(fsspec.filesystem("file"), str(tmp_path))
    etag = store.write("k", b"v")
    for attempt in (
        lambda: store.create("n", b"v"),
        lambda: store.write_if("k", b"w", etag),
        lambda: store.delete_if("k", etag),
        lambda: store.create_many({"n": b"v"})[0],
    ):
        with pytest.raises(ConditionalWritesUnsupportedError, match=str(tmp_path)):
            result = attempt()
            if isinstance(result, BaseException):
                raise result
    assert store.read("k") == b"v" and not store.exists("n")


@pytest.mark.parametrize("operation", list(CONDITIONAL.values()), ids=list(CONDITIONAL))
def test_declared_single_process_use_allows_them(url, operation):
    d = open_dict(url, single_process=True)
    d["k"] = 0
    operation(d)  # no error
    assert d.setdefault("new", 5) == 5 and d.setdefault("new", 6) == 5


def test_the_declaration_survives_pickling(url):
    d = open_dict(url, single_process=True)
    again = pickle.loads(pickle.dumps(d))
    assert again.setdefault("k", 1) == 1
    refusing = pickle.loads(pickle.dumps(open_dict(url)))
    with pytest.raises(ConditionalWritesUnsupportedError):
        refusing.setdefault("k", 2)


def test_memory_is_single_process_by_nature():
    d = open_dict("memory://persidict-tests/other-fsspec")
    d.clear()
    assert d.setdefault("k", 1) == 1 and d.pop("k") == 1
    assert isinstance(d, PersiDict)


def test_the_command_line_takes_the_declaration(url):
    from persidict.cli import build_parser, check_options, main

    assert main(["set", url, "k", "1", "--format", "json", "-o", "single_process=true"]) == 0
    assert open_dict(url, "json")["k"] == 1
    for store in (url, "s3://bucket/prefix"):  # S3 checks every -o name it is given
        check_options(build_parser().parse_args(["ls", store, "-o", "single_process=true"]))


def test_the_view_refuses_an_exclusive_create_unless_declared(url):
    view = fsspec.filesystem("persidict", fo=url, skip_instance_cache=True)
    view.pipe_file("plain.txt", b"overwrite works")
    with pytest.raises(ConditionalWritesUnsupportedError, match="plainfs://"):
        view.pipe_file("new.txt", b"x", mode="create")
    assert view.cat_file("plain.txt") == b"overwrite works" and not view.exists("new.txt")
    declared = fsspec.filesystem("persidict", fo=url, single_process=True, skip_instance_cache=True)
    declared.pipe_file("new.txt", b"x", mode="create")
    with pytest.raises(FileExistsError):
        declared.pipe_file("new.txt", b"y", mode="create")

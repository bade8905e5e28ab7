"""The local fast path (key->path cache, os-level reads, cheap lock) keeps every guarantee."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import random

import pytest

from persidict import FileDirDict
from persidict.keys import KeyLayout
from persidict.storage.local import LocalStore
from tests.workers import cas_increment


def test_round_trip_of_every_dict_operation(tmp_path):
    d = FileDirDict(base_dir=tmp_path / "s")
    d["a"] = 1
    d["g1", "k1"] = b"x" * 100
    d[["g1", "k2"]] = [1, 2]
    assert d[("a",)] == 1 and d["g1", "k1"] == b"x" * 100 and d["g1", "k2"] == [1, 2]
    assert sorted(d) == [("a",), ("g1", "k1"), ("g1", "k2")]
    assert len(d) == 3
    assert d.setdefault("a", 5) == 1 and d.setdefault("b", 5) == 5
    assert d.pop("b") == 5 and d.pop("b", None) is None
    del d["g1", "k1"]
    with pytest.raises(KeyError):
        d["g1", "k1"]
    with pytest.raises(KeyError):
        del d["g1", "k1"]
    assert sorted(FileDirDict(base_dir=tmp_path / "s")) == [("a",), ("g1", "k2")]


def test_bad_keys_still_fail_after_good_ones_are_cached(tmp_path):
    d = FileDirDict(base_dir=tmp_path / "s")
    d["ok"] = 1
    for _ in range(2):  # the second time would hit a cache if bad keys were cached
        for bad in ("", "..", "a/b", "sp ace", "é", ("ok", ""), 3, b"ok", ()):
            with pytest.raises((KeyError, TypeError, ValueError)):
                d[bad] = 1
    assert list(d) == [("ok",)]


def test_cached_dict_pickles_small_and_generator_keys_are_never_cached(tmp_path):
    d = FileDirDict(base_dir=tmp_path / "s")
    for i in range(300):
        d["g", f"k{i}"] = i
    assert len(pickle.dumps(d)) < 1000  # address and options, not the caches
    clone = pickle.loads(pickle.dumps(d))
    assert clone["g", "k7"] == 7 and len(clone) == 300
    assert d[(p for p in ("g", "k1"))] == 1  # a generator hashes by identity: no cache
    assert d[(p for p in ("g", "k2"))] == 2


def test_path_cache_does_not_leak_between_layouts():
    plain, digested = KeyLayout(".pkl"), KeyLayout(".pkl", digest_len=4)
    assert plain.path_of("Ab") == "Ab.pkl"
    assert digested.path_of("Ab").startswith("Ab_") and digested.path_of("Ab").endswith(".pkl")
    assert digested.from_path(digested.path_of(("x", "Ab"))) == ("x", "Ab")


def test_read_path_reads_large_and_empty_files(tmp_path):
    store = LocalStore(tmp_path)
    big = os.urandom(3 * 1024 * 1024 + 7)
    store.write("big", big)
    store.write("empty", b"")
    assert store.read("big") == big and store.read("empty") == b""
    with pytest.raises(FileNotFoundError):
        store.read("absent")
    os.mkdir(tmp_path / "folder")
    with pytest.raises(IsADirectoryError):
        store.read("folder")


def _overwrite(root: str, writer: int, rounds: int) -> None:
    d = FileDirDict(base_dir=root)
    for i in range(rounds):
        d["shared", f"k{i % 5}"] = (writer, i, b"v" * 1000)


def _read_all(root: str, rounds: int, bad: mp.Queue) -> None:
    d = FileDirDict(base_dir=root)
    for i in range(rounds):
        try:
            value = d["shared", f"k{i % 5}"]
        except KeyError:
            continue
        if not (isinstance(value, tuple) and value[2] == b"v" * 1000):
            bad.put(repr(value)[:80])


def _increment(root: str, times: int) -> None:
    cas_increment(LocalStore(root), "counter", times)


def test_two_process_overwrite_race_leaves_only_whole_values(tmp_path):
    root = str(tmp_path / "s")
    FileDirDict(base_dir=root)["shared", "k0"] = (0, 0, b"v" * 1000)
    ctx = mp.get_context("spawn")
    bad = ctx.Queue()
    procs = [ctx.Process(target=_overwrite, args=(root, w, 300)) for w in (1, 2)]
    procs.append(ctx.Process(target=_read_all, args=(root, 600, bad)))
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert bad.empty()
    d = FileDirDict(base_dir=root)
    assert {d["shared", f"k{i}"][0] for i in range(5)} <= {1, 2}
    leftovers = os.listdir(os.path.join(root, "shared"))
    assert not [n for n in leftovers if "#" in n]


def test_compare_and_swap_is_exact_across_processes(tmp_path):
    root = str(tmp_path / "s")
    LocalStore(root).write("counter", b"0")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_increment, args=(root, 100)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert LocalStore(root).read("counter") == b"200"


@pytest.mark.parametrize("ext", [".pkl", ".json", "", ".npy"])
@pytest.mark.parametrize("digest_len", [0, 4])
def test_listing_by_folder_decodes_exactly_like_one_path_at_a_time(ext, digest_len):
    layout = KeyLayout(ext, digest_len)
    good = [layout.to_path((p,)) for p in ("a", "...", "x.y", "A(1)=~_-", "z" * 253)]
    bad = [".." + ext, "." + ext, "..." + ext if ext else "..", "a b" + ext, "é" + ext]
    bad += ["z" * 254 + ext, "a#b" + ext, "a" + ext + "x", "a\n" + ext, "a.txt"]
    folder = layout.to_dir(("f",))
    rng = random.Random(7)  # names near the rules: dots, the extension's letters, one bad char
    near = ["".join(rng.choices(".pkljsonyé", k=rng.randint(1, 7))) for _ in range(300)]
    cases = [[*good], [*good, *bad], bad, good[:1], bad[:1], [], near, [n + ext for n in near]]
    cases += [[*good, n] for n in near] + [[n + ext, *good] for n in near]
    for names in cases:
        expected = [k for k in (layout.from_path(f"{folder}/{n}") for n in names) if k]
        assert layout.split_folder(folder, names) == (("f",), [k[-1] for k in expected])
        assert layout.count_in(folder, names) == len(expected)
        assert layout.split_folder("", names) == ((), [k[-1] for k in expected])
    assert len(layout.split_folder(folder, good)[1]) == len(good)
    assert layout.split_folder("bad name", good) is None
    assert layout.count_in("bad name", good) == 0

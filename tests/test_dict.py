"""The PersiDict contract, the same on a local folder, memory:// and S3 (moto)."""

import pickle
import threading

import pytest

from persidict import FormatError, PersiDict

EXAMPLE = {
    ("Eliza",): "MIT Eliza was a mock Rogerian psychotherapist.",
    ("Eliza", "year"): 1965,
    ("Eliza", "authors"): ["Joseph Weizenbaum", "George Bernard Shaw"],
    ("Shoebox",): "IBM Shoebox performed arithmetic on voice command.",
    ("Shoebox", "year"): 1961,
    ("Shoebox", "authors"): ["W.C. Dersch", "E.A. Quade"],
}


@pytest.fixture
def filled(d: PersiDict) -> PersiDict:
    for key, value in EXAMPLE.items():
        d[key] = value
    return d


def test_readme_example_gives_six_key_tuples(filled, backend):
    fresh = backend.open()
    assert len(fresh) == 6
    assert sorted(fresh.keys()) == sorted(EXAMPLE)
    assert all(isinstance(k, tuple) for k in fresh)
    assert "Eliza" in fresh
    assert fresh["Eliza", "authors"] == ["Joseph Weizenbaum", "George Bernard Shaw"]


def test_str_key_is_its_one_tuple(d):
    d["a"] = 1
    assert d[("a",)] == 1
    assert ("a",) in d and "a" in d


def test_missing_key_is_key_error(d):
    with pytest.raises(KeyError):
        d["nope"]
    with pytest.raises(KeyError):
        del d["nope"]


def test_overwrite_replaces_value(d):
    d["k"] = 1
    d["k"] = {"new": True}
    assert d["k"] == {"new": True}
    assert len(d) == 1


def test_views_have_len_and_membership(filled):
    keys, values, items = filled.keys(), filled.values(), filled.items()
    assert len(keys) == len(values) == len(items) == 6
    assert ("Eliza", "year") in keys
    assert 1961 in values
    assert (("Shoebox", "year"), 1961) in items
    assert (("Shoebox", "year"), 1962) not in items
    assert not isinstance(keys, type(iter([])))


def test_get_returns_default_for_missing(d):
    d["x"] = 0
    assert d.get("x") == 0
    assert d.get("y") is None
    assert d.get("y", 5) == 5


def test_pop_removes_and_returns(d):
    d["x"] = [1]
    assert d.pop("x") == [1]
    assert "x" not in d
    assert d.pop("x", "gone") == "gone"
    with pytest.raises(KeyError):
        d.pop("x")


def test_popitem_empties_the_dict(filled):
    seen = dict(filled.popitem() for _ in range(6))
    assert seen == EXAMPLE
    with pytest.raises(KeyError):
        filled.popitem()


def test_update_and_clear(d):
    d.update({"a": 1}, b=2)
    d.update([(("c", "d"), 3)])
    assert dict(d) == {("a",): 1, ("b",): 2, ("c", "d"): 3}
    d.clear()
    assert len(d) == 0 and not d


def test_equals_a_plain_dict(filled):
    assert filled == EXAMPLE
    assert filled != {("Eliza",): "other"}


def test_repr_names_the_store_and_loads_no_values(filled):
    text = repr(filled)
    assert filled.store.url in text
    assert "Rogerian" not in text


def test_bool_is_false_only_when_empty(d):
    assert not d
    d["x", "y"] = 1
    assert d


def test_setdefault_inserts_only_if_absent(d):
    assert d.setdefault("k", 1) == 1
    assert d.setdefault("k", 2) == 1
    assert d["k"] == 1


def test_setdefault_is_atomic_across_threads(d):
    winners = []
    barrier = threading.Barrier(8)

    def race(i):
        barrier.wait()
        if d.setdefault("one", i) == i:
            winners.append(i)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert d["one"] == winners[0]


def test_a_second_object_sees_writes_at_once(backend):
    first, second = backend.open(), backend.open()
    first["k"] = 1
    assert second["k"] == 1
    first["k"] = 2
    assert second["k"] == 2
    del first["k"]
    assert "k" not in second


def test_batches_read_write_delete(d):
    items = {("batch", f"k{i}"): i for i in range(40)}
    d.setitems(items)
    assert d.getitems(items) == list(range(40))
    d.delitems(list(items)[:30])
    assert len(d) == 10
    with pytest.raises(KeyError):
        d.getitems([("batch", "k0")])


@pytest.mark.parametrize("bad", [("a", ""), ("a", ".."), "a/b", "sp ace", "é", 5, ("x" * 300,)])
def test_bad_key_names_the_part_and_writes_nothing(d, bad):
    with pytest.raises((TypeError, ValueError), match="invalid key"):
        d[bad] = 1
    assert len(d) == 0


def test_bad_key_is_simply_absent(d):
    assert "a/b" not in d


def test_unpicklable_value_writes_nothing(d):
    d["k"] = "old"
    with pytest.raises(FormatError, match="cannot store"):
        d["k"] = threading.Lock()
    assert d["k"] == "old"


def test_a_bad_value_in_a_batch_writes_nothing(d):
    with pytest.raises(FormatError):
        d.setitems({"a": 1, "b": threading.Lock()})
    assert len(d) == 0


def test_txt_store_refuses_non_str(backend):
    t = backend.open("txt")
    with pytest.raises(FormatError, match="str values only"):
        t["k"] = 3
    assert "k" not in t


def test_json_store_keeps_readable_files(backend):
    j = backend.open("json")
    j["Eliza", "year"] = 1965
    raw = j.store.read("Eliza/year.json")
    assert raw.strip() == b"1965"
    assert j["Eliza", "year"] == 1965


def test_bytes_store_uses_the_key_as_the_file_name(backend):
    b = backend.open("bytes")
    b["Eliza", "photo.png"] = b"\x89PNG"
    assert b.store.read("Eliza/photo.png") == b"\x89PNG"
    assert list(b) == [("Eliza", "photo.png")]


def test_formats_share_a_root_without_mixing(backend):
    pkl, txt = backend.open("pkl"), backend.open("txt")
    pkl["k"] = 1
    txt["k"] = "one"
    assert list(pkl) == [("k",)] and list(txt) == [("k",)]
    assert pkl["k"] == 1 and txt["k"] == "one"


def test_corrupt_file_error_names_its_path(d):
    d.store.write("broken.pkl", b"this is not a pickle")
    with pytest.raises(FormatError, match=r"corrupt 'pkl' data in .*broken\.pkl"):
        d["broken"]


def test_foreign_files_are_not_keys(d):
    d["k"] = 1
    d.store.write("notes.md", b"# readme")
    d.store.write("bad name.pkl", b"x")
    assert list(d) == [("k",)]


def test_pickles_as_address_not_contents(filled, backend):
    blob = pickle.dumps(filled)
    assert b"Rogerian" not in blob
    clone = pickle.loads(blob)
    filled["new"] = 1
    assert clone["new"] == 1
    assert clone == filled


def test_pop_of_a_value_it_cannot_decode_keeps_it(d):
    d.store.write("broken.pkl", b"not a pickle")
    with pytest.raises(FormatError):
        d.pop("broken")
    assert d.store.read("broken.pkl") == b"not a pickle"


def test_setitems_applies_entries_in_order(d):
    from persidict import DELETE_CURRENT, KEEP_CURRENT

    d["gone"] = 0
    d.setitems([("a", DELETE_CURRENT), ("a", 1), ("gone", 5), ("gone", DELETE_CURRENT)])
    d.setitems([("b", 2), ("b", KEEP_CURRENT)])
    assert dict(d) == {("a",): 1, ("b",): 2}


def test_setdefault_is_atomic_across_dict_objects(backend):
    winners = []
    dicts = [backend.open() for _ in range(6)]
    barrier = threading.Barrier(len(dicts))

    def race(i):
        barrier.wait()
        if dicts[i].setdefault("one", i) == i:
            winners.append(i)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(dicts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_every_public_exception_the_readme_names_imports_from_the_top():
    import persidict

    for name in ("OutcomeUnknownError", "BackendError", "KeyClashError"):
        assert issubclass(getattr(persidict, name), Exception) and name in persidict.__all__

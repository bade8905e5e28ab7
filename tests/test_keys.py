"""Keys: what is accepted, what is refused (naming the bad part), and their paths."""

import pytest

from persidict.keys import KeyLayout, normalize_key


def test_str_is_a_one_tuple():
    assert normalize_key("Eliza") == ("Eliza",)


def test_sequence_of_str_becomes_tuple():
    assert normalize_key(["Eliza", "year"]) == ("Eliza", "year")


def test_all_safe_characters_are_accepted():
    part = "AZaz09()_-~.="
    assert normalize_key((part, "x")) == (part, "x")


@pytest.mark.parametrize(
    ("key", "named"),
    [
        (("a", ""), "''"),
        (("a", ".."), "'..'"),
        ((".",), "'.'"),
        (("a/b",), "'a/b'"),
        (("has space",), "'has space'"),
        (("café",), "'café'"),
        (("x" * 254,), "longer than 253"),
    ],
)
def test_bad_part_is_a_value_error_naming_it(key, named):
    with pytest.raises(ValueError, match="invalid key part") as info:
        normalize_key(key)
    assert named in str(info.value)


@pytest.mark.parametrize("key", [("a", 1), (b"bytes",), 3, None, b"raw"])
def test_non_string_key_is_a_type_error(key):
    with pytest.raises(TypeError, match="invalid key"):
        normalize_key(key)


def test_empty_tuple_is_refused():
    with pytest.raises(ValueError, match="at least one part"):
        normalize_key(())


def test_layout_maps_key_to_path_and_back():
    layout = KeyLayout(".json")
    assert layout.to_path(("Eliza", "year")) == "Eliza/year.json"
    assert layout.from_path("Eliza/year.json") == ("Eliza", "year")


def test_layout_ignores_foreign_paths():
    layout = KeyLayout(".json")
    assert layout.from_path("Eliza/year.pkl") is None
    assert layout.from_path("bad name.json") is None


def test_digest_keeps_case_only_different_keys_apart_case_insensitively():
    layout = KeyLayout(".pkl", digest_len=8)
    upper, lower = layout.to_path(("Eliza",)), layout.to_path(("eliza",))
    assert upper.lower() != lower.lower()
    assert layout.from_path(upper) == ("Eliza",)
    assert layout.from_path(lower) == ("eliza",)


def test_digest_mismatch_is_not_a_key():
    layout = KeyLayout(".pkl", digest_len=8)
    assert layout.from_path("Eliza_aaaaaaaa.pkl") is None


def test_zero_digest_len_keeps_paths_exactly_the_key():
    assert KeyLayout(".pkl", digest_len=0).to_path(("A", "b")) == "A/b.pkl"

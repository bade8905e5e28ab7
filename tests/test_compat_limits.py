"""Limits shared with persidict 0.309.0: long key parts, and base classes a format cannot store."""

from __future__ import annotations

import json
import random

import pytest

from persidict import FileDirDict, LocalDict, NonEmptySafeStrTuple, open_dict
from tests.test_compat_upstream_folders import run_upstream

LENGTHS = sorted({1, 199, 200, 201, 220, 240, 246, 247, 248, 249, 250, 253, 254, 300}
                 | set(random.Random(22).sample(range(1, 300), 12)))  # fmt: skip

STORE_LONG = """
    import json, sys
    from persidict import FileDirDict
    d = FileDirDict(base_dir=sys.argv[1])
    stored = []
    for n in json.loads(sys.argv[2]):
        try:
            d["k" * n] = n
            stored.append(n)
        except Exception:
            pass
    print(json.dumps(stored))
"""


def test_every_key_part_length_the_reference_stores_is_stored_here_too(tmp_path):
    theirs = json.loads(run_upstream(STORE_LONG, str(tmp_path / "ref"), json.dumps(LENGTHS)))
    assert 220 in theirs  # the case that was refused here
    ours = FileDirDict(base_dir=str(tmp_path / "ours"), digest_len=4)  # the reference's digest
    for n in theirs:
        ours["k" * n] = n
        assert ours["k" * n] == n
    # and the folder the reference wrote reads back whole
    written = FileDirDict(base_dir=str(tmp_path / "ref"))
    assert {len(k[0]): v for k, v in written.items()} == {n: n for n in theirs}


@pytest.mark.parametrize("n", [220, 253])
def test_long_parts_are_valid_keys_on_every_backend(n, s3_options):
    key = NonEmptySafeStrTuple("a" * n, "b" * n)
    assert key == ("a" * n, "b" * n)
    for d in (LocalDict(), open_dict("s3://persidict-tests/long-parts", **s3_options)):
        d[key] = n
        assert d[key] == n and key in list(d.keys())


def test_a_part_longer_than_253_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="longer than 253 characters"):
        NonEmptySafeStrTuple("x" * 254)


@pytest.mark.parametrize(
    ("base", "fmt"), [(int, "txt"), (object, "txt"), (dict, "txt"), (str, "bytes"), (int, "bytes")]
)
def test_a_base_class_the_format_cannot_store_is_refused_at_construction(tmp_path, base, fmt):
    with pytest.raises(ValueError, match=f"format '{fmt}' stores .* values only"):
        FileDirDict(base_dir=str(tmp_path), base_class_for_values=base, serialization_format=fmt)
    assert list(tmp_path.iterdir()) == []  # nothing made


@pytest.mark.parametrize(
    ("base", "fmt"), [(str, "txt"), (str, "csv"), (int, "json"), (int, "pkl"), (bytes, "bytes")]
)
def test_a_base_class_the_format_stores_is_accepted(tmp_path, base, fmt):
    d = FileDirDict(base_dir=str(tmp_path), base_class_for_values=base, serialization_format=fmt)
    value = base(b"x") if base is bytes else base("7") if base in (str, int) else base()
    d["k"] = value
    assert d["k"] == value

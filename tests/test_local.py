"""Local-folder specifics: file layout, temp files, durability, case-insensitive digests."""

import contextlib
import io
import os
import threading

import pytest

from persidict import FileDirDict


def test_key_is_the_file_root_slash_parts_dot_ext(tmp_path):
    d = FileDirDict(base_dir=tmp_path, serialization_format="json")
    d["Eliza", "year"] = 1965
    assert (tmp_path / "Eliza" / "year.json").read_text().strip() == "1965"


def test_base_dir_and_dir_name_are_aliases(tmp_path):
    FileDirDict(dir_name=tmp_path)["k"] = 1
    assert FileDirDict(base_dir=tmp_path)["k"] == 1
    with pytest.raises(TypeError, match="base_dir or dir_name"):
        FileDirDict(base_dir=tmp_path, dir_name=tmp_path)


def test_file_type_is_an_alias_of_serialization_format(tmp_path):
    d = FileDirDict(tmp_path, file_type="txt")
    assert d.serialization_format == "txt"
    with pytest.raises(TypeError, match="not both"):
        FileDirDict(tmp_path, "pkl", file_type="json")


def test_stray_temp_files_are_never_keys(tmp_path):
    d = FileDirDict(tmp_path)
    d["k"] = 1
    (tmp_path / ".#k.pkl.0123abcd").write_bytes(b"half a value")
    assert list(d) == [("k",)]
    assert len(d) == 1


def test_a_write_leaves_no_temp_file(tmp_path):
    d = FileDirDict(tmp_path)
    for i in range(20):
        d["k"] = i
    names = os.listdir(tmp_path)
    assert names == ["k.pkl"]


def test_durable_writes_fsync_file_and_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    d = FileDirDict(tmp_path, durable=True)
    d["k"] = 1
    assert len(synced) == 2
    assert FileDirDict(tmp_path)["k"] == 1


def test_digest_len_keeps_case_only_different_keys_in_different_files(tmp_path):
    d = FileDirDict(tmp_path, digest_len=8)
    d["Eliza"] = 1
    d["eliza"] = 2
    names = sorted(n for n in os.listdir(tmp_path) if not n.startswith(".#"))
    assert len({n.lower() for n in names}) == 2
    assert sorted(d) == [("Eliza",), ("eliza",)]
    assert (d["Eliza"], d["eliza"]) == (1, 2)


def test_case_sensitive_folder_gets_no_digest_by_default(tmp_path):
    assert FileDirDict(tmp_path).digest_len == 0


def test_a_folder_where_a_value_would_be_is_not_a_key(tmp_path):
    d = FileDirDict(tmp_path)
    (tmp_path / "k.pkl").mkdir()
    with pytest.raises(KeyError):
        d["k"]


def test_dicts_at_nested_roots_share_the_commit_lock(tmp_path):
    outer = FileDirDict(tmp_path)
    inner = FileDirDict(tmp_path / "users")
    outer["users", "counter"] = 0

    def bump(d, key):
        for _ in range(50):
            d.transform_item(key, transformer=lambda v: v + 1, n_retries=None)

    threads = [
        threading.Thread(target=bump, args=(outer, ("users", "counter"))),
        threading.Thread(target=bump, args=(inner, "counter")),
        threading.Thread(target=bump, args=(outer, ("users", "counter"))),
        threading.Thread(target=bump, args=(inner, "counter")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inner["counter"] == outer["users", "counter"] == 200


def test_the_readme_seed_example_leaves_exactly_its_six_files(tmp_path, monkeypatch):
    from test_readme import quick_start_code

    monkeypatch.chdir(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(quick_start_code(), "README.md", "exec"), {})
    found = [os.path.join(f, n) for f, _, names in os.walk(tmp_path / "my_folder") for n in names]
    assert len(found) == 6 and all(p.endswith(".pkl") for p in found), found


def test_key_iteration_streams_folder_by_folder(tmp_path, monkeypatch):
    d = FileDirDict(tmp_path, serialization_format="bytes")
    d.setitems(((f"g{i:03d}", "k"), b"v") for i in range(200))
    scanned = []
    real_scandir = os.scandir

    def counting_scandir(target):
        scanned.append(target)
        return real_scandir(target)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    keys = iter(d)
    next(keys)
    assert len(scanned) == 2  # the root and one folder: the first key came before the walk ended
    assert len(list(keys)) == 199 and len(scanned) == 201


def test_a_huge_folder_is_listed_in_bounded_chunks(tmp_path, monkeypatch):
    from persidict.storage import local, local_listing

    monkeypatch.setattr(local_listing, "_NAMES_CHUNK", 100)  # 4096 in use; a small folder shows it
    for i in range(250):
        (tmp_path / f"k{i:05d}").touch()
    chunks = [len(names) for _, names in local.LocalStore(tmp_path).iter_folders()]
    assert chunks == [100, 100, 50]

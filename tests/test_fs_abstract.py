"""fsspec's own reusable suite for filesystem implementations, on a raw-bytes store.

Runs with a local folder and with S3 (moto) under the view. Empty folders
persist where the store keeps them (``make_folder``).
"""

from __future__ import annotations

import uuid

import fsspec.tests.abstract as abstract
import pytest

from persidict.storage.base import ByteStore
from persidict_fs import PersiDictFileSystem
from tests.conftest import BUCKET

# fsspec's 32 glob edge cases test its glob over the view's find and ls; the store only
# lists. All run on the local folder; on S3 (each costs ~200 requests) those that list
# to different depths, with and without recursion, through each kind of pattern.
S3_GLOB_EDGE_CASES = {
    ("fil?1", False, None),
    ("*", True, 2),
    ("**", True, None),
    ("**", False, 2),
    ("**/subdir0/nested*", True, 2),
    ("subdir[0-1]", True, None),
    ("subdir[0-1]/*fil[e]*", False, None),
}


def deselect(item: pytest.Item) -> bool:
    """The glob edge cases not in S3_GLOB_EDGE_CASES, on S3 (see tests/conftest.py)."""
    params = item.callspec.params if hasattr(item, "callspec") else {}
    case = (params.get("path"), params.get("recursive"), params.get("maxdepth"))
    return (
        "glob_edge_cases" in item.name and params["fs"] == "s3" and case not in S3_GLOB_EDGE_CASES
    )


class PersiDictFixtures(abstract.AbstractFixtures):
    @pytest.fixture(params=["local", "s3"])
    def fs(self, request, tmp_path):
        if request.param == "local":
            return PersiDictFileSystem(
                fo=str(tmp_path / "store"), serialization_format="bytes", skip_instance_cache=True
            )
        options = request.getfixturevalue("s3_options")
        return PersiDictFileSystem(
            fo=f"{BUCKET}/{uuid.uuid4().hex[:12]}",
            target_protocol="s3",
            target_options=dict(options),
            serialization_format="bytes",
            skip_instance_cache=True,
        )

    @pytest.fixture
    def fs_join(self):
        return lambda *parts: "/".join(parts)

    @pytest.fixture
    def fs_path(self):
        return "data"

    @pytest.fixture
    def supports_empty_directories(self, fs):
        return type(fs.store).make_folder is not ByteStore.make_folder


class TestPersiDictCopy(abstract.AbstractCopyTests, PersiDictFixtures):
    pass


class TestPersiDictGet(abstract.AbstractGetTests, PersiDictFixtures):
    pass


class TestPersiDictPut(abstract.AbstractPutTests, PersiDictFixtures):
    pass


class TestPersiDictPipe(abstract.AbstractPipeTests, PersiDictFixtures):
    pass


class TestPersiDictOpen(abstract.AbstractOpenTests, PersiDictFixtures):
    pass

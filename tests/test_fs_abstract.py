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

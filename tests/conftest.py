"""Shared fixtures: a real moto S3 server, and the same store on every backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from persidict import PersiDict, open_dict
from persidict.testing import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    azurite_server,
    fake_gcs_server,
    moto_server,
    shared_s3_session,
)

BUCKET = "persidict-tests"
# Workers get S3 credentials from their environment (pickles carry no secrets), and a
# forkserver started by any test keeps the environment it started with: set it now.
for _var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(_var, "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY)  # azurite's published key


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak-seconds",
        type=float,
        default=60.0,
        help="how long each test marked soak runs (they run from scripts/soak)",
    )


def _keep(item: pytest.Item) -> bool:
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect what a test module's ``deselect(item)`` names; soak tests get their time."""
    dropped = [i for i in items if getattr(getattr(i, "module", None), "deselect", _keep)(i)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i not in dropped]
    seconds = config.getoption("--soak-seconds")
    for item in items:
        if item.get_closest_marker("soak"):
            item.add_marker(pytest.mark.timeout(seconds + 600))


@pytest.fixture
def soak_seconds(request: pytest.FixtureRequest) -> float:
    """The duration the soak tests are asked to run for."""
    return request.config.getoption("--soak-seconds")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real S3 API (moto's threaded server) on 127.0.0.1, for the whole session."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def s3_options(moto_endpoint: str) -> dict[str, Any]:
    """Storage options that reach the moto server through s3fs; the bucket exists."""
    from persidict.storage.s3 import S3Store

    options = {
        "endpoint_url": moto_endpoint,
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "us-east-1"},
        # One botocore session for every store of the run: a fresh one costs 0.3-1 s.
        "session": shared_s3_session(),
    }
    # s3fs's mkdir sends a LocationConstraint for us-east-1, which S3 (and moto) reject.
    S3Store(BUCKET, create_bucket=True, **options)
    return options


@pytest.fixture(scope="session")
def gcs_options(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """Storage options that reach a fake-gcs-server on 127.0.0.1; the bucket exists."""
    from persidict.storage.gcs import GCSStore

    try:
        server = fake_gcs_server(str(tmp_path_factory.mktemp("fake-gcs")))
        endpoint = server.__enter__()
    except FileNotFoundError as missing:
        pytest.fail(f"{missing} (scripts/setup-venv installs it)")
    options = {"endpoint_url": endpoint, "token": "anon", "project": "persidict-tests"}
    GCSStore(BUCKET, create_bucket=True, **options)
    try:
        yield options
    finally:
        server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def azure_options(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """Storage options that reach an azurite on 127.0.0.1; the container exists."""
    from persidict.storage.azure import AzureStore

    try:
        server = azurite_server(str(tmp_path_factory.mktemp("azurite")))
        endpoint = server.__enter__()
    except FileNotFoundError as missing:
        pytest.fail(f"{missing} (scripts/setup-venv installs it)")
    options = {
        "endpoint_url": endpoint,
        "account_name": AZURITE_ACCOUNT,
        "account_key": AZURITE_KEY,
    }
    AzureStore(BUCKET, create_bucket=True, **options)
    try:
        yield options
    finally:
        server.__exit__(None, None, None)


@dataclass
class Backend:
    """One empty store root on one backend; ``open`` gives a fresh dict object on it."""

    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)

    def open(self, serialization_format: str = "pkl", **kwargs: Any) -> PersiDict:
        return open_dict(self.url, serialization_format, **self.options, **kwargs)


BACKENDS = ["local", "memory", "s3"]
SHARED_BACKENDS = ["local", "s3", "gcs", "azure"]  # visible to other processes


def make_backend(name: str, request: pytest.FixtureRequest, tmp_path) -> Backend:
    unique = uuid.uuid4().hex[:12]
    if name == "local":
        return Backend(name, str(tmp_path / "store"))
    if name == "memory":
        return Backend(name, f"memory://persidict-tests/{unique}")
    if name == "azure":
        options = request.getfixturevalue("azure_options")
        return Backend(name, f"az://{BUCKET}/{unique}", dict(options))
    if name == "gcs":
        return Backend(
            name, f"gs://{BUCKET}/{unique}", dict(request.getfixturevalue("gcs_options"))
        )
    options = request.getfixturevalue("s3_options")
    return Backend(name, f"s3://{BUCKET}/{unique}", dict(options))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path) -> Backend:
    """The same test on a local folder, memory:// and S3 (moto)."""
    return make_backend(request.param, request, tmp_path)


@pytest.fixture(params=SHARED_BACKENDS)
def shared_backend(request: pytest.FixtureRequest, tmp_path) -> Backend:
    """Backends other processes reach: a folder, S3 (moto), GCS (fake-gcs-server), azurite."""
    return make_backend(request.param, request, tmp_path)


@pytest.fixture
def d(backend: Backend) -> PersiDict:
    """An empty pickle-format dict on each backend."""
    return backend.open()

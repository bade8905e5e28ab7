"""S3 dicts inside moto's ``mock_aws``: route s3fs to an in-process moto server.

moto's ``mock_aws`` answers botocore's requests in-process, but s3fs sends
them through aiobotocore, whose awaits the mock's replies do not support.
While a ``mock_aws`` is active in this process, an S3 store given no
``endpoint_url`` talks HTTP to a moto server started in this process on
127.0.0.1 instead. That server keeps its data in the same in-memory backends
as the mock, so ``boto3`` calls in the test and the dict see one S3, and the
mock's start and stop reset both. Needs ``moto[server]``.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

_lock = threading.Lock()
_endpoint: str | None = None


def mock_aws_active() -> bool:
    """Whether a moto ``mock_aws`` is active in this process (moto is never imported here)."""
    models = sys.modules.get("moto.core.models")
    stubber = getattr(models, "botocore_stubber", None)
    return bool(getattr(stubber, "enabled", False))


def s3fs_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` for s3fs, with the in-process moto endpoint when a mock is active."""
    if "endpoint_url" in options or not mock_aws_active():
        return options
    return {**options, "endpoint_url": _server_endpoint()}


def _server_endpoint() -> str:
    global _endpoint
    with _lock:
        if _endpoint is None:
            try:
                from moto.server import ThreadedMotoServer
            except ImportError as exc:
                raise ImportError(
                    "S3 dicts inside moto's mock_aws need moto's server: "
                    'pip install "moto[server]"'
                ) from exc
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # it logs every request
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()  # a daemon thread, serving until the process exits
            host, port = server.get_host_and_port()
            _endpoint = f"http://{host}:{port}"
        return _endpoint

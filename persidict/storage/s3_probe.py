"""Servers that ignore conditional headers: probed once per endpoint and bucket, then refused.

npm's s3rver, older MinIO and Ceph accept ``If-None-Match``/``If-Match`` and
ignore them, which would make every conditional operation silently wrong.
Before the first conditional request of a process to an endpoint and bucket,
a probe object at the bucket root (outside every store's folder, under a name
no listing shows) must refuse both; it is deleted at once (a writer killed in
between leaves it: ``persidict gc`` removes it).
"""

from __future__ import annotations

import logging
from typing import Any

from persidict.storage import s3_faults as faults
from persidict.storage.base import TEMP_PREFIX, PreconditionFailed
from persidict.storage.s3_faults import ConditionalWritesUnsupportedError
from persidict.storage.s3_requests import S3Requests

logger = logging.getLogger("persidict.storage.s3")  # the store's log, where users look

PROBE_PREFIX = f"{TEMP_PREFIX}persidict-probe-"  # a store's own name: never listed
_CONDITIONAL_SUPPORT: dict[tuple[str, str], bool] = {}  # (endpoint, bucket) -> probed answer


async def require_conditional(requests: S3Requests) -> None:
    """Refuse conditional requests on an endpoint that ignores them (probed once)."""
    client = await requests.client()
    where = (str(client.meta.endpoint_url), requests.bucket)
    supported = _CONDITIONAL_SUPPORT.get(where)
    if supported is None:
        supported = _CONDITIONAL_SUPPORT[where] = await _probe(requests)
    if not supported:
        raise ConditionalWritesUnsupportedError(
            f"S3 endpoint {where[0]} (bucket {requests.bucket!r}, {requests.url}) "
            "ignores conditional headers (If-None-Match/If-Match): setdefault, pop, "
            "append-only writes, transform_item and the *_if operations would be silently "
            "wrong there, so they are refused; plain get/set/del work",
            code="ConditionalWritesUnsupported",
            operation="probe",
        )


async def _probe(requests: S3Requests) -> bool:
    """Does the server refuse a PUT If-None-Match over an existing object, and a wrong If-Match?

    Every request here is on the probe's own random key, so resending one is harmless.
    """
    request = requests.request
    key = f"{PROBE_PREFIX}{faults.new_write_id()}"
    first = await request("put_object", None, Key=key, Body=b"probe")
    checks: list[dict[str, Any]] = [
        {"IfNoneMatch": "*", "Body": b"again"},
        {"IfMatch": '"0123456789abcdef0123456789abcdef"', "Body": b"again"},
    ]
    refused = 0
    try:
        for extra in checks:
            try:
                await request("put_object", None, Key=key, **extra)
            except PreconditionFailed:
                refused += 1
    finally:
        await request("delete_object", None, Key=key)
    supported = refused == len(checks)
    logger.info(
        "S3 endpoint for %s %s conditional writes (probe ETag %s)",
        requests.url,
        "supports" if supported else "IGNORES",
        first.get("ETag"),
    )
    return supported

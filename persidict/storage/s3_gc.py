"""What a killed writer leaves in a bucket: unfinished multipart uploads, probe objects.

A writer aborts its own failed upload; one killed mid-upload (kill -9, power
loss) cannot, and S3 keeps (and bills) the parts until they are aborted. The
conditional-write probe (``s3_commits``) lives for three requests at the
bucket root; a writer killed then leaves it behind. :func:`collect` removes
both once older than an age, so that uploads still under way are left alone.
An S3 lifecycle rule (AbortIncompleteMultipartUpload) does the first on a
schedule; see the README.
"""

from __future__ import annotations

import time
from typing import Any

from persidict.storage.s3_probe import PROBE_PREFIX
from persidict.storage.s3_requests import S3Requests

DEFAULT_AGE = 24 * 3600.0
"""Uploads and probes younger than this (seconds) are taken to be still under way."""


async def collect(requests: S3Requests, older_than: float = DEFAULT_AGE) -> list[str]:
    """Abort unfinished uploads under the store's prefix and delete leftover probes,
    those begun more than ``older_than`` seconds ago; the ``s3://`` URLs removed."""
    cutoff = time.time() - older_than
    removed: list[str] = []
    prefix = requests.folder_key("")
    marker: dict[str, Any] = {}
    while True:
        page = await requests.request("list_multipart_uploads", Prefix=prefix, **marker)
        for upload in page.get("Uploads", ()):
            if upload["Initiated"].timestamp() < cutoff:
                await requests.request(
                    "abort_multipart_upload", Key=upload["Key"], UploadId=upload["UploadId"]
                )
                removed.append(f"s3://{requests.bucket}/{upload['Key']} (upload)")
        if not page.get("IsTruncated"):
            break
        marker = {
            "KeyMarker": page["NextKeyMarker"],
            "UploadIdMarker": page["NextUploadIdMarker"],
        }
    page = await requests.request("list_objects_v2", Prefix=PROBE_PREFIX)
    for obj in page.get("Contents", ()):  # probes are few: one page
        if obj["LastModified"].timestamp() < cutoff:
            await requests.request("delete_object", Key=obj["Key"])
            removed.append(f"s3://{requests.bucket}/{obj['Key']}")
    return removed

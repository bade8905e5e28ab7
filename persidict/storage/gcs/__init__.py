"""The GCS store: ``gs://bucket/prefix`` with generation preconditions (needs the gcs extra)."""

from persidict.storage.gcs.requests import GCSError, GCSTimeoutError
from persidict.storage.gcs.store import GCSStore

__all__ = ["GCSError", "GCSStore", "GCSTimeoutError"]

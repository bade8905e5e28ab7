"""persidict 0.309.0's module path and signature for its S3 dict with a local cache.

``S3Dict_FileDirCached`` here is a :class:`BasicS3Dict` (object names are the
keys, one request per operation) that accepts the reference's cache
arguments: ``base_dir`` and ``digest_len`` described its local cache, and this
dict keeps none, so a write by another machine is seen at once. For a cache,
wrap the dict in :class:`~persidict.MutableDictCached`.
"""

from __future__ import annotations

from typing import Any

from persidict.conditions import ValueType
from persidict.dicts.basic_s3 import BasicS3Dict
from persidict.dicts.s3 import S3Dict
from persidict.formats import Format

S3DICT_NEW_DEFAULT_BASE_DIR = "__s3_dict__"


class S3Dict_FileDirCached(BasicS3Dict[ValueType]):
    """An S3 dict with the reference library's keyword-only signature.

    >>> d = S3Dict_FileDirCached(bucket_name="my-bucket")  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        bucket_name: str = "my_bucket",
        region: str | None = None,
        root_prefix: str = "",
        base_dir: str = S3DICT_NEW_DEFAULT_BASE_DIR,
        serialization_format: str | Format = "pkl",
        digest_len: int = 8,
        append_only: bool = False,
        base_class_for_values: type | None = None,
        **storage_options: Any,
    ) -> None:
        del base_dir, digest_len  # they shaped the reference's local cache; there is none
        super().__init__(
            bucket_name=bucket_name,
            region=region,
            root_prefix=root_prefix,
            serialization_format=serialization_format,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
            **storage_options,
        )


__all__ = ["S3DICT_NEW_DEFAULT_BASE_DIR", "S3Dict", "S3Dict_FileDirCached"]

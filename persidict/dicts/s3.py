"""S3Dict: a PersiDict in an S3 bucket (or any S3-compatible server) via s3fs."""

from __future__ import annotations

from typing import Any

from persidict.dicts.base import PersiDict
from persidict.dicts.file_dir import _one_format
from persidict.formats import Format


class S3Dict(PersiDict):
    """A persistent dict stored as one object per key under ``s3://bucket/root_prefix``.

    One request per operation: get = GET, set = PUT, ``in`` = HEAD, and one
    LIST per 1000 keys to iterate. Nothing is cached, so writes by other
    machines are seen at once.

    Args:
        bucket_name: the bucket; ``create_bucket=True`` makes it if missing.
        root_prefix: the folder inside the bucket.
        region: the AWS region (``region_name`` for botocore).
        endpoint_url: for S3-compatible servers (MinIO, moto, ...).
        storage_options: passed to ``s3fs.S3FileSystem`` (``key``, ``secret``,
            ``anon``, ``client_kwargs``, ``config_kwargs``, ...).

    >>> d = S3Dict(bucket_name="my-bucket", root_prefix="store")  # doctest: +SKIP
    """

    def __init__(
        self,
        bucket_name: str,
        root_prefix: str = "",
        serialization_format: str | Format | None = None,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        create_bucket: bool = False,
        file_type: str | Format | None = None,
        digest_len: int = 0,
        **storage_options: Any,
    ) -> None:
        from persidict.storage.s3 import S3Store

        if endpoint_url is not None:
            storage_options["endpoint_url"] = endpoint_url
        if region is not None:
            client_kwargs = dict(storage_options.pop("client_kwargs", {}))
            client_kwargs.setdefault("region_name", region)
            storage_options["client_kwargs"] = client_kwargs
        store = S3Store(bucket_name, root_prefix, create_bucket=create_bucket, **storage_options)
        super().__init__(store, _one_format(serialization_format, file_type), digest_len=digest_len)

    @property
    def bucket_name(self) -> str:
        return self.store.bucket

    @property
    def root_prefix(self) -> str:
        return self.store.prefix

"""S3Dict: a PersiDict in an S3 bucket (or any S3-compatible server) via s3fs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from persidict.conditions import ValueType
from persidict.dicts.base import PersiDict
from persidict.dicts.file_dir import _one_format
from persidict.formats import Format

if TYPE_CHECKING:
    from persidict.storage.s3 import S3Store  # imports s3fs: only when a dict is made

logger = logging.getLogger(__name__)
_SECRETS = {"key", "secret", "token", "aws_access_key_id", "aws_secret_access_key"}


class S3Dict(PersiDict[ValueType]):
    """A persistent dict stored as one object per key under ``s3://bucket/root_prefix``.

    One request per operation: get = GET, set = PUT, ``in`` = HEAD, and one
    LIST per 1000 keys to iterate. Nothing is cached, so writes by other
    machines are seen at once.

    Args:
        bucket_name: the bucket; made if missing unless ``create_bucket=False``
            (one HEAD request when the dict is constructed, none when unpickled).
        root_prefix: the folder inside the bucket.
        region: the AWS region (``region_name`` for botocore).
        endpoint_url: for S3-compatible servers (MinIO, moto, ...).
        append_only, base_class_for_values, digest_len: see :class:`PersiDict`.
        base_dir: accepted for compatibility with the reference library, which
            cached values there; ignored, since this dict keeps no cache.
        storage_options: passed to ``s3fs.S3FileSystem`` (``key``, ``secret``,
            ``anon``, ``client_kwargs``, ``config_kwargs``, ...).

    >>> d = S3Dict(bucket_name="my-bucket", root_prefix="store")  # doctest: +SKIP
    """

    store: S3Store

    def __init__(
        self,
        bucket_name: str,
        root_prefix: str = "",
        serialization_format: str | Format | None = None,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        create_bucket: bool = True,
        file_type: str | Format | None = None,
        digest_len: int = 0,
        append_only: bool = False,
        base_class_for_values: type | None = None,
        base_dir: str | None = None,
        **storage_options: Any,
    ) -> None:
        from persidict.storage.s3 import S3Store

        if base_dir is not None:
            # The reference library cached values in base_dir; this dict reads S3 directly.
            logger.debug("S3Dict ignores base_dir=%r: it keeps no local cache", base_dir)
        self.region = region

        if endpoint_url is not None:
            storage_options["endpoint_url"] = endpoint_url
        if region is not None:
            client_kwargs = dict(storage_options.pop("client_kwargs", {}))
            client_kwargs.setdefault("region_name", region)
            storage_options["client_kwargs"] = client_kwargs
        store = S3Store(bucket_name, root_prefix, create_bucket=create_bucket, **storage_options)
        super().__init__(
            store,
            _one_format(serialization_format, file_type),
            digest_len=digest_len,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
        )

    @property
    def bucket_name(self) -> str:
        return self.store.bucket

    @property
    def root_prefix(self) -> str:
        """The folder of this dict in the bucket (of its prefix, for a sub-dict)."""
        return "/".join(p for p in (self.store.prefix, self.prefix_path) if p)

    @property
    def base_url(self) -> str:
        return f"s3://{self.bucket_name}/{self.root_prefix}"

    def _address_params(self) -> dict[str, Any]:
        return {
            "bucket_name": self.bucket_name,
            "root_prefix": self.root_prefix,
            "region": self.region,
            # enough to reopen it, credentials excepted (they come from the environment)
            **{k: v for k, v in self.store.storage_options.items() if k not in _SECRETS},
        }

"""BasicS3Dict: the reference library's name and signature for a direct S3 dict."""

from __future__ import annotations

from typing import Any

from persidict.conditions import ValueType
from persidict.dicts.s3 import S3Dict
from persidict.formats import Format


class BasicS3Dict(S3Dict[ValueType]):
    """An S3Dict with keyword-only arguments and the reference library's defaults.

    Every operation goes straight to S3 (one request each); the bucket is
    made if it is missing. Object names are the keys (no digest suffix).

    >>> d = BasicS3Dict(bucket_name="my-bucket", root_prefix="jobs")  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        bucket_name: str = "my_bucket",
        region: str | None = None,
        root_prefix: str = "",
        serialization_format: str | Format = "pkl",
        append_only: bool = False,
        base_class_for_values: type | None = None,
        **storage_options: Any,
    ) -> None:
        super().__init__(
            bucket_name,
            root_prefix,
            serialization_format,
            region=region,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
            **storage_options,
        )

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        del params["digest_len"]  # always 0 here
        return params

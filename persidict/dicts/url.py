"""open_dict: a PersiDict from any fsspec URL."""

from __future__ import annotations

from typing import Any

import fsspec
from fsspec.core import split_protocol

from persidict.dicts.base import PersiDict
from persidict.dicts.file_dir import FileDirDict
from persidict.formats import Format
from persidict.storage.fsspec_store import FsspecStore


def open_dict(
    url: str,
    serialization_format: str | Format = "pkl",
    *,
    digest_len: int | None = None,
    append_only: bool = False,
    base_class_for_values: type | None = None,
    **storage_options: Any,
) -> PersiDict:
    """Open the store at ``url``: a folder path, ``file://``, ``s3://``, ``memory://``, ...

    ``storage_options`` go to the fsspec filesystem (for S3: ``endpoint_url``,
    ``key``, ``secret``, ``create_bucket``, ...); the other options are
    :class:`PersiDict`'s.

    >>> d = open_dict("memory://scratch")
    >>> d["a"] = 1
    >>> list(d)
    [('a',)]
    """
    protocol, path = split_protocol(url)
    policy = {"append_only": append_only, "base_class_for_values": base_class_for_values}
    if protocol in (None, "file", "local"):
        return FileDirDict(
            path, serialization_format, digest_len=digest_len, **policy, **storage_options
        )
    if protocol in ("s3", "s3a"):
        from persidict.dicts.s3 import S3Dict

        bucket, _, prefix = path.partition("/")
        storage_options.setdefault("create_bucket", False)  # a URL names an existing place
        return S3Dict(
            bucket,
            prefix,
            serialization_format,
            digest_len=digest_len or 0,
            **policy,
            **storage_options,
        )
    fs = fsspec.filesystem(protocol, **storage_options)
    store = FsspecStore(fs, path)
    return PersiDict(store, serialization_format, digest_len=digest_len or 0, **policy)

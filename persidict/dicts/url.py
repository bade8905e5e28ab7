"""open_dict: a PersiDict from any fsspec URL."""

from __future__ import annotations

import os
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
    single_process: bool = False,
    **storage_options: Any,
) -> PersiDict:
    """Open the store at ``url``: a folder path, ``file://``, ``s3://``, ``memory://``, ...

    ``storage_options`` go to the store (for S3: ``endpoint_url``, ``key``,
    ``secret``, ``create_bucket``, ...; for GCS: ``endpoint_url``, ``token``,
    ``project``, ``create_bucket``, ...; for Azure (``az://container/prefix``,
    ``abfs://``): ``account_name``, ``account_key``, ``connection_string``,
    ``endpoint_url``, ...; else the fsspec filesystem's); the other options are
    :class:`PersiDict`'s. ``single_process=True`` declares that only this
    process writes to a store on an fsspec filesystem without preconditions
    (one that is not a folder, S3 or ``memory://``): conditional operations
    there then rely on this process's lock instead of being refused with
    ConditionalWritesUnsupportedError. Stores with real preconditions ignore it.

    >>> d = open_dict("memory://scratch")
    >>> d["a"] = 1
    >>> list(d) == [("a",)]
    True
    """
    protocol, path = split_protocol(url)
    policy: dict[str, Any] = {
        "append_only": append_only,
        "base_class_for_values": base_class_for_values,
    }
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
    if protocol in ("gs", "gcs"):
        from persidict.storage.gcs import GCSStore

        bucket, _, prefix = path.partition("/")
        gcs = GCSStore(bucket, prefix, **storage_options)
        return PersiDict(gcs, serialization_format, digest_len=digest_len or 0, **policy)
    if protocol in ("az", "abfs", "abfss"):
        from persidict.storage.azure import AzureStore

        container, _, prefix = path.partition("/")
        if "@" in container:  # abfs://container@account.dfs.core.windows.net/prefix
            container, _, host = container.partition("@")
            storage_options.setdefault("account_name", host.partition(".")[0])
        azure = AzureStore(container, prefix, **storage_options)
        return PersiDict(azure, serialization_format, digest_len=digest_len or 0, **policy)
    fs = fsspec.filesystem(protocol, **storage_options)
    store = FsspecStore(fs, path, single_process=single_process)
    return PersiDict(store, serialization_format, digest_len=digest_len or 0, **policy)


GUESS_SAMPLE = 200  # files looked at: one LIST page on S3


def guess_format(url: str, default: str = "pkl", **storage_options: Any) -> str:
    """The format of the store at ``url``, judged by the extensions of its first stored files.

    For tools (the command line, the mount) that open a store they did not
    create: the format whose extension most of the first files carry; files
    of no format's extension (``README``, ``notes.md``) are plain files the
    dict skips and never decide it. ``bytes`` (raw files keep their own
    names) only if no file carries a format's extension; ``default`` if
    nothing is stored.
    """
    from collections import Counter
    from itertools import islice

    from persidict.formats import format_names, get_format

    by_ext = {get_format(n).extension: n for n in format_names()}
    by_ext.pop("", None)
    protocol, path = split_protocol(url)
    if protocol in (None, "file", "local") and not os.path.isdir(path):
        return default  # nothing stored yet; opening would create the folder
    store = open_dict(url, "bytes", **storage_options).store
    names = [p.rpartition("/")[2] for p in islice(store.iter_paths(), GUESS_SAMPLE)]
    if not names:
        return default
    found = Counter(by_ext[ext] for ext in (os.path.splitext(n)[1] for n in names) if ext in by_ext)
    if not found:
        return "bytes"
    # most common first; a tie goes to the order of the registry (pkl first), not to chance
    order = format_names()
    return max(found, key=lambda name: (found[name], -order.index(name)))

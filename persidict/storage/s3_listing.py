"""Listing an S3 prefix as a folder tree, and empty folders as ``name/`` markers.

One LIST per 1000 objects (``list_objects_v2``, following continuation
tokens), never through s3fs's listing cache, so a write by another machine is
visible at once. Folder markers (zero-byte ``name/`` objects, as S3 consoles
make) and the store's own temp names are never listed as stored files.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

from persidict.storage.base import Entry, is_temp_name
from persidict.storage.s3_requests import S3Requests


def _pages(requests: S3Requests, prefix: str, **kwargs: Any) -> Iterator[dict]:
    """The LIST pages of folder ``prefix`` (relative: errors name it once, under the root)."""
    token = None
    while True:
        extra: dict[str, Any] = {"ContinuationToken": token} if token else {}
        page = requests.run(
            lambda extra=extra: requests.request(
                "list_objects_v2", prefix, Prefix=requests.folder_key(prefix), **kwargs, **extra
            )
        )
        yield page
        if not page.get("IsTruncated"):
            return
        token = page["NextContinuationToken"]


def _entries(requests: S3Requests, page: dict) -> Iterator[Entry]:
    for obj in page.get("Contents", ()):
        rel = requests.relative(obj["Key"])
        if rel and not rel.endswith("/") and not is_temp_name(rel.rpartition("/")[2]):
            written = obj["LastModified"].timestamp()
            yield Entry(rel, obj["Size"], written, obj["ETag"].strip('"'), written)


def walk(requests: S3Requests, prefix: str = "") -> Iterator[Entry]:
    """Every stored file under folder ``prefix``, recursively."""
    for page in _pages(requests, prefix):
        yield from _entries(requests, page)


def walk_with_folders(requests: S3Requests, prefix: str = "") -> Iterator[Entry | str]:
    """``walk``, and the folders that ``name/`` markers keep (as folder paths)."""
    for page in _pages(requests, prefix):
        for obj in page.get("Contents", ()):
            folder = requests.relative(obj["Key"]).removesuffix("/")
            marker = obj["Key"].endswith("/") and folder and folder != prefix
            if marker and not is_temp_name(folder.rpartition("/")[2]):
                yield folder
        yield from _entries(requests, page)


def listdir(requests: S3Requests, prefix: str = "") -> tuple[list[Entry], list[str]]:
    """Files directly in folder ``prefix``, and names of its sub-folders."""
    files: list[Entry] = []
    dirs: list[str] = []
    folder = requests.folder_key(prefix)
    for page in _pages(requests, prefix, Delimiter="/"):
        files.extend(_entries(requests, page))
        for common in page.get("CommonPrefixes", ()):
            name = common["Prefix"][len(folder) :].rstrip("/")
            if not is_temp_name(name):
                dirs.append(name)
    return files, dirs


def is_empty(requests: S3Requests, prefix: str = "") -> bool:
    """True if nothing, not even a folder marker, is under ``prefix`` (one LIST of one key)."""
    page = requests.run(
        lambda: requests.request(
            "list_objects_v2", prefix, Prefix=requests.folder_key(prefix), MaxKeys=1
        )
    )
    return not page.get("KeyCount")


def check_empty(requests: S3Requests, path: str) -> None:
    """OSError ENOTEMPTY if folder ``path`` holds anything but its own ``path/`` marker."""
    folder = requests.folder_key(path)
    page = requests.run(lambda: requests.request("list_objects_v2", path, Prefix=folder, MaxKeys=2))
    keys = [o["Key"] for o in page.get("Contents", ())]
    if any(k != folder for k in keys):
        raise OSError(errno.ENOTEMPTY, f"{requests.where(path)} is not empty")

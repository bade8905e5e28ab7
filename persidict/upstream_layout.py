"""Recognise a folder written by persidict 0.309.0 with its default digest suffixes.

The reference library's FileDirDict appends ``_<4-character digest>`` to every
path part by default (``Eliza_mod7/year_qtg4.pkl``); this project's default is
paths that are exactly the key. A FileDirDict opened with the default
``digest_len`` decides once, when it is made, from the **key files** in its
folder (files of its format's extension; one walk, no reads, no writes):

- a key file whose every path part carries the reference's suffix is the
  reference's (a name of ours matches by chance 1 in 32**4 per part);
- any other key file is ours (the reference cannot have written it);
- folders and files of other extensions are no evidence: a stray ``tmp``
  folder or ``notes.txt`` changes nothing.

Key files of both kinds make the folder undecidable: ``LayoutError``
naming it and one file of each kind. The walk looks at most at
``_SAMPLE`` key files and ``_MAX_ENTRIES`` entries.
"""

from __future__ import annotations

import os

from persidict.errors import LayoutError
from persidict.keys import part_digest

UPSTREAM_DIGEST_LEN = 4
_SAMPLE = 64  # key files looked at
_MAX_ENTRIES = 20_000  # directory entries looked at, key files or not


def _signed(name: str) -> bool:
    head, sep, digest = name.rpartition("_")
    return bool(sep and head) and len(digest) == UPSTREAM_DIGEST_LEN and digest == part_digest(
        head, UPSTREAM_DIGEST_LEN
    )


def _key_files(folder: str, extension: str) -> list[str]:
    """Relative paths of up to _SAMPLE key files, folder by folder from the top."""
    found: list[str] = []
    pending = [""]
    seen = 0
    while pending and len(found) < _SAMPLE and seen < _MAX_ENTRIES:
        relative = pending.pop(0)
        try:
            with os.scandir(os.path.join(folder, relative) if relative else folder) as entries:
                for entry in entries:
                    seen += 1
                    if entry.name.startswith(".") or seen > _MAX_ENTRIES:
                        continue  # temp and lock files are never keys
                    path = f"{relative}/{entry.name}" if relative else entry.name
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(path)
                    elif entry.is_file(follow_symlinks=False) and entry.name.endswith(extension):
                        found.append(path)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
    return found[:_SAMPLE]


def is_upstream_path(path: str, extension: str) -> bool:
    """Whether every part of the key file ``path`` carries the reference's suffix."""
    parts = path.split("/")
    if extension:
        parts[-1] = parts[-1][: -len(extension)]
    return all(_signed(p) for p in parts)


def upstream_digest_len(folder: str, extension: str) -> int | None:
    """4 if the key files in ``folder`` are the reference's, None if ours or there are none.

    Raises :class:`LayoutError` naming ``folder`` when they are of both kinds.
    """
    theirs: list[str] = []
    ours: list[str] = []
    for path in _key_files(folder, extension):
        (theirs if is_upstream_path(path, extension) else ours).append(path)
    if theirs and ours:
        raise LayoutError(
            f"cannot tell the layout of {folder}: {theirs[0]!r} is named as persidict 0.309.0 "
            f"names keys (a digest on every part) and {ours[0]!r} is not; open it with "
            "digest_len=4 (the reference's layout) or digest_len=0 (paths exactly the keys)"
        )
    return UPSTREAM_DIGEST_LEN if theirs else None

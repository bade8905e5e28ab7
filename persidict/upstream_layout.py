"""Recognise a folder written by persidict 0.309.0 with its default digest suffixes.

The reference library's FileDirDict appends ``_<4-character digest>`` to every
path part by default (``Eliza_mod7/year_qtg4.pkl``); this project's default is
paths that are exactly the key. A FileDirDict opened with the default
``digest_len`` looks at the names at the top of its folder (one listing, no
reads, no writes): if every one of them carries the reference's suffix, the
dict uses that layout, for reading and writing, so both libraries share the
folder.
"""

from __future__ import annotations

import os

from persidict.keys import part_digest

UPSTREAM_DIGEST_LEN = 4
_SAMPLE = 32  # names looked at; a name that is not ours matches by chance 1 in 32**4


def _signed(name: str) -> bool:
    head, sep, digest = name.rpartition("_")
    return bool(sep and head) and len(digest) == UPSTREAM_DIGEST_LEN and digest == part_digest(
        head, UPSTREAM_DIGEST_LEN
    )


def upstream_digest_len(folder: str, extension: str) -> int | None:
    """4 if the top of ``folder`` holds only names with the reference's suffix, else None.

    Hidden names (temp and lock files) and files of other extensions are not
    looked at; an empty or missing folder is not the reference's.
    """
    seen = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                if not entry.is_dir(follow_symlinks=False):
                    if not extension or not name.endswith(extension):
                        continue
                    name = name[: -len(extension)]
                if not _signed(name):
                    return None
                seen += 1
                if seen >= _SAMPLE:
                    break
    except (FileNotFoundError, NotADirectoryError):
        return None
    return UPSTREAM_DIGEST_LEN if seen else None

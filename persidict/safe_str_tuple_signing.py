"""persidict 0.309.0's digest suffixes on key parts: ``part_<b32(md5(part))[:n] lowercased>``.

The reference library appends this suffix to every path part of a FileDirDict
(``digest_len=4`` by default), so that keys differing only in case never share
a file on a case-insensitive filesystem. A part that already ends with its own
suffix is left as it is. These functions name and read such paths; this
module is pure.

>>> sign_safe_str_tuple(("Eliza", "year"), 4)
SafeStrTuple(('Eliza_mod7', 'year_qtg4'))
>>> unsign_safe_str_tuple(("Eliza_mod7", "year_qtg4"), 4)
SafeStrTuple(('Eliza', 'year'))
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from persidict.safe_str_tuple import SafeStrTuple


def suffix(part: str, digest_len: int) -> str:
    """The suffix of ``part`` (``""`` when ``digest_len`` is 0)."""
    if not isinstance(digest_len, int) or digest_len < 0:
        raise ValueError(f"digest_len must be an int >= 0, got {digest_len!r}")
    if not digest_len:
        return ""
    # md5 names files here, it guards nothing: the reference library chose it.
    digest = hashlib.md5(part.encode(), usedforsecurity=False).digest()
    return "_" + base64.b32encode(digest).decode()[:digest_len].lower()


def unsigned_part(name: str, digest_len: int) -> str | None:
    """``name`` without its suffix, or None if ``name`` does not end with one."""
    head = name[: -1 - digest_len]
    if len(name) > digest_len + 1 and name.endswith(suffix(head, digest_len)):
        return head
    return None


def sign_part(part: str, digest_len: int) -> str:
    """``part`` with its suffix, unless it already ends with the suffix of its head."""
    if digest_len and unsigned_part(part, digest_len) is not None:
        return part
    return part + suffix(part, digest_len)


def sign_safe_str_tuple(str_seq: Iterable[str] | str, digest_len: int) -> SafeStrTuple:
    """Every part of ``str_seq`` with its suffix."""
    return SafeStrTuple(*(sign_part(p, digest_len) for p in SafeStrTuple(str_seq)))


def unsign_safe_str_tuple(str_seq: Iterable[str] | str, digest_len: int) -> SafeStrTuple:
    """Every part of ``str_seq`` with its suffix removed, where it has one."""
    parts = SafeStrTuple(str_seq)
    if not digest_len:
        return parts
    return SafeStrTuple(*(unsigned_part(p, digest_len) or p for p in parts))


__all__ = ["sign_safe_str_tuple", "unsign_safe_str_tuple"]

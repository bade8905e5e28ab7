"""Key tuples and their relative paths: validation, normalisation, digests.

A key is a tuple of non-empty strings made of URL/filename-safe characters
(``A-Z a-z 0-9 ( ) _ - ~ . =``); a plain ``str`` is a 1-tuple. Key
``("Eliza", "year")`` lives at the relative path ``Eliza/year<ext>``.
This module is pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

SAFE_CHARS = "A-Z a-z 0-9 ( ) _ - ~ . ="
MAX_PART_LENGTH = 200
_SAFE_PART = re.compile(r"[A-Za-z0-9()_\-~.=]+")

KeyLike = str | Iterable[str]
Key = tuple[str, ...]


def _describe(key: object) -> str:
    text = repr(key)
    return text if len(text) <= 120 else text[:117] + "..."


def check_part(part: object, key: object = None) -> str:
    """Return ``part`` if it is a valid key part, else raise naming it."""
    where = f" in {_describe(key)}" if key is not None else ""
    if not isinstance(part, str):
        raise TypeError(
            f"invalid key part {_describe(part)}{where}: parts must be str, "
            f"not {type(part).__name__}"
        )
    if not part:
        raise ValueError(f"invalid key part ''{where}: parts may not be empty")
    if part in (".", ".."):
        raise ValueError(f"invalid key part {part!r}{where}: parts may not be '.' or '..'")
    if len(part) > MAX_PART_LENGTH:
        raise ValueError(
            f"invalid key part {_describe(part)}{where}: longer than {MAX_PART_LENGTH} characters"
        )
    if not _SAFE_PART.fullmatch(part):
        bad = sorted({c for c in part if not _SAFE_PART.fullmatch(c)})
        raise ValueError(
            f"invalid key part {part!r}{where}: characters {''.join(bad)!r} are not "
            f"allowed (use {SAFE_CHARS})"
        )
    return part


def normalize_key(key: KeyLike) -> Key:
    """Turn a ``str`` or a sequence of strings into a validated key tuple.

    >>> normalize_key("Eliza")
    ('Eliza',)
    >>> normalize_key(["Eliza", "year"])
    ('Eliza', 'year')
    """
    if isinstance(key, str):
        return (check_part(key),)
    if isinstance(key, (bytes, bytearray)) or not isinstance(key, Iterable):
        raise TypeError(
            f"invalid key {_describe(key)}: a key is a str or a sequence of str, "
            f"not {type(key).__name__}"
        )
    parts = tuple(key)
    if not all(type(p) is str for p in parts):
        parts = tuple(_flatten(parts, parts))
    if not parts:
        raise ValueError("invalid key (): a key needs at least one part")
    for part in parts:
        check_part(part, parts)
    return parts


def _flatten(parts: tuple, key: tuple) -> Iterable[str]:
    # Nested tuples/lists of parts are spliced in: ("a", ("b", "c")) == ("a", "b", "c").
    for part in parts:
        if isinstance(part, (tuple, list)):
            yield from _flatten(tuple(part), key)
        else:
            yield check_part(part, key)


def part_digest(part: str, length: int) -> str:
    """A case-insensitive-safe digest of ``part`` (lowercase base32)."""
    raw = hashlib.sha256(part.encode()).digest()
    return base64.b32encode(raw).decode().lower()[:length]


class KeyLayout:
    """Maps key tuples to relative paths and back, for one file extension.

    ``digest_len > 0`` appends ``_<digest>`` to every part, so that keys
    differing only in case never share a path on a case-insensitive
    filesystem. The digest never shows in keys handed back to users.
    """

    def __init__(self, extension: str = "", digest_len: int = 0) -> None:
        if extension and not extension.startswith("."):
            extension = "." + extension
        if not isinstance(digest_len, int) or digest_len < 0:
            raise ValueError(f"digest_len must be an int >= 0, got {digest_len!r}")
        self.extension = extension
        self.digest_len = digest_len

    def _encode_part(self, part: str) -> str:
        if not self.digest_len:
            return part
        return f"{part}_{part_digest(part, self.digest_len)}"

    def _decode_part(self, name: str) -> str | None:
        if not self.digest_len:
            return name if _is_safe(name) else None
        part, sep, digest = name.rpartition("_")
        if not sep or not _is_safe(part) or part_digest(part, self.digest_len) != digest:
            return None
        return part

    def to_path(self, key: Key) -> str:
        """Relative path of a normalized key."""
        parts = [self._encode_part(p) for p in key]
        parts[-1] += self.extension
        return "/".join(parts)

    def to_dir(self, prefix: Key) -> str:
        """Relative folder path holding keys that start with ``prefix``."""
        return "/".join(self._encode_part(p) for p in prefix)

    def from_path(self, path: str) -> Key | None:
        """Key stored at ``path``, or None if the path is not one of ours."""
        if self.extension:
            if not path.endswith(self.extension):
                return None
            path = path[: -len(self.extension)]
        names = path.split("/")
        key = tuple(self._decode_part(n) for n in names)
        if any(p is None for p in key):
            return None
        return key  # type: ignore[return-value]

    def from_dir_name(self, name: str) -> str | None:
        """Key part that a folder name stands for, or None if not one of ours."""
        return self._decode_part(name)


def _is_safe(name: str) -> bool:
    return (
        bool(name)
        and name not in (".", "..")
        and bool(_SAFE_PART.fullmatch(name))
        and len(name) <= MAX_PART_LENGTH
    )

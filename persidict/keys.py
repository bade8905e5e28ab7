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
import string
from collections.abc import Iterable
from functools import lru_cache

# The one definition of a valid key part; the texts and patterns below are built from it.
SAFE_PUNCTUATION = "()_-~.="
MAX_PART_LENGTH = 253
SAFE_CHARS_SET = frozenset(string.ascii_letters + string.digits + SAFE_PUNCTUATION)
SAFE_CHARS = "A-Z a-z 0-9 " + " ".join(SAFE_PUNCTUATION)
"""The allowed characters, as error messages and docs spell them."""
_SAFE_CLASS = "".join(map(re.escape, sorted(SAFE_CHARS_SET)))
_SAFE_CHAR = f"[{_SAFE_CLASS}]"
PART_PATTERN = rf"(?!\.\.?\Z){_SAFE_CHAR}{{1,{MAX_PART_LENGTH}}}"
"""A regular expression matching exactly the valid key parts (never '.' or '..')."""
_valid_part = re.compile(PART_PATTERN).fullmatch
_safe_names = re.compile(f"[{_SAFE_CLASS}/]*").fullmatch  # "/"-joined names, safe characters
PATH_CACHE_SIZE = 1 << 15
_UNSEEN: object = object()  # marks a folder not yet in the cache

KeyLike = str | Iterable[str]
Key = tuple[str, ...]


def is_valid_part(name: str) -> bool:
    """True if ``name`` is a valid key part (it matches :data:`PART_PATTERN`)."""
    return _valid_part(name) is not None


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
    if not _valid_part(part):
        bad = sorted(set(part) - SAFE_CHARS_SET)
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
    """A case-insensitive-safe digest of ``part``: lowercase base32 of its MD5.

    The suffix persidict 0.309.0 gives path parts, so that a folder written by
    it with ``digest_len=n`` reads here with ``digest_len=n`` (and back).
    MD5 only names files here; it guards nothing.
    """
    raw = hashlib.md5(part.encode(), usedforsecurity=False).digest()
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
        # Validating and joining a key costs more than reading a small file's
        # bytes; only valid keys are cached, so a bad key fails every time.
        self._cached_path = lru_cache(PATH_CACHE_SIZE)(self._validated_path)
        # Folder name -> key parts, for listings (every key in a folder shares it).
        self._dir_parts: dict[str, tuple[str, ...] | None] = {}
        # Names of files that are no keys although made of safe characters.
        self._not_keys = tuple(f"/{p}{extension}/" for p in ("", ".", ".."))

    def __reduce__(self):
        # The caches are rebuilt, never pickled along with a dict.
        return (type(self), (self.extension, self.digest_len))

    def path_of(self, key: KeyLike) -> str:
        """Relative path of a key given as ``str`` or sequence; validated, cached."""
        # Only str and tuple hash by value; a list, or a generator (hashed by
        # identity), must never hit the cache.
        if type(key) is str or type(key) is tuple:
            try:
                return self._cached_path(key)
            except TypeError:
                pass  # a tuple holding something unhashable: normalize_key names it
        return self.to_path(normalize_key(key))

    def _validated_path(self, key: KeyLike) -> str:
        return self.to_path(normalize_key(key))

    def _encode_part(self, part: str) -> str:
        if not self.digest_len:
            return part
        return f"{part}_{part_digest(part, self.digest_len)}"

    def _decode_part(self, name: str) -> str | None:
        if not self.digest_len:
            return name if is_valid_part(name) else None
        part, sep, digest = name.rpartition("_")
        if not sep or not is_valid_part(part) or part_digest(part, self.digest_len) != digest:
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
        ext = self.extension
        if ext:
            if not path.endswith(ext):
                return None
            path = path[: -len(ext)]
        folder, _, name = path.rpartition("/")
        if self.digest_len:
            last = self._decode_part(name)
            if last is None:
                return None
        elif _valid_part(name):  # the bare regex: this runs once per listed file
            last = name
        else:
            return None
        if not folder:
            return (last,)
        try:
            head = self._dir_parts[folder]
        except KeyError:
            head = self._decode_folder(folder)
        return None if head is None else (*head, last)

    def split_folder(self, folder: str, names: list[str]) -> tuple[Key, list[str]] | None:
        """``(head, lasts)``: the keys among files ``names`` in ``folder`` are ``(*head, last)``.

        ``head`` holds the key parts ``folder`` stands for; names not of ours
        are skipped. None if ``folder`` is not one of ours.
        """
        head = self._head(folder)
        return None if head is None else (head, self._last_parts(names))

    def _last_parts(self, names: list[str]) -> list[str]:
        """The last key parts of the file ``names`` that are ours, in order."""
        ext, cut = self.extension, len(self.extension)
        if self.digest_len:
            parts = [self._decode_part(n[: len(n) - cut]) for n in names if n.endswith(ext)]
            return [p for p in parts if p is not None]
        joined = "/".join(names)
        if self._all_ours(joined, names):
            return joined[: len(joined) - cut].split(ext + "/")
        stems = [n[: len(n) - cut] for n in names if n.endswith(ext)]
        return [stem for stem in stems if _valid_part(stem)]

    def _all_ours(self, joined: str, names: list[str]) -> bool:
        """True if each of ``names`` ("/"-joined in ``joined``) is a key part + extension.

        (Without digests.) A few C-level scans of the whole folder, cheaper
        than one regex call per name: names hold no "/", so every "/" and the
        end of ``joined`` must follow the extension.
        """
        ext = self.extension
        if not (
            names
            and _safe_names(joined)
            and joined.endswith(ext)
            and max(map(len, names)) <= MAX_PART_LENGTH + len(ext)
        ):
            return False
        if ext and joined.count(ext + "/") != len(names) - 1:
            return False
        framed = f"/{joined}/"
        # Every name that is no key ('<ext>', '.<ext>', '..<ext>') starts with "." (rare).
        return "/." not in framed or not any(bad in framed for bad in self._not_keys)

    def count_in(self, folder: str, names: list[str]) -> int:
        """How many of the files ``names`` in ``folder`` hold keys (none are built)."""
        if self._head(folder) is None:
            return 0
        if not self.digest_len and self._all_ours("/".join(names), names):
            return len(names)
        return len(self._last_parts(names))

    def _head(self, folder: str) -> tuple[str, ...] | None:
        """Key parts that ``folder`` stands for (cached), or None if not one of ours."""
        if not folder:
            return ()
        head = self._dir_parts.get(folder, _UNSEEN)
        return self._decode_folder(folder) if head is _UNSEEN else head  # type: ignore[return-value]

    def _decode_folder(self, folder: str) -> tuple[str, ...] | None:
        parts = [self._decode_part(n) for n in folder.split("/")]
        head = None if None in parts else tuple(p for p in parts if p is not None)
        if len(self._dir_parts) >= PATH_CACHE_SIZE:
            self._dir_parts.clear()
        self._dir_parts[folder] = head
        return head

    def from_dir_name(self, name: str) -> str | None:
        """Key part that a folder name stands for, or None if not one of ours."""
        return self._decode_part(name)

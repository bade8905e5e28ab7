"""persidict 0.309.0's module path for the characters allowed in key parts."""

from __future__ import annotations

from typing import Final

from persidict.keys import MAX_PART_LENGTH
from persidict.safe_str_tuple import get_safe_chars, replace_unsafe_chars

SAFE_CHARS_SET: Final[set[str]] = get_safe_chars()
SAFE_STRING_MAX_LENGTH: Final[int] = MAX_PART_LENGTH


def contains_unsafe_chars(a_str: str) -> bool:
    """Whether ``a_str`` has a character outside :data:`SAFE_CHARS_SET`.

    >>> contains_unsafe_chars("a b"), contains_unsafe_chars("a_b")
    (True, False)
    """
    return not SAFE_CHARS_SET.issuperset(a_str)


__all__ = [
    "SAFE_CHARS_SET",
    "SAFE_STRING_MAX_LENGTH",
    "contains_unsafe_chars",
    "get_safe_chars",
    "replace_unsafe_chars",
]

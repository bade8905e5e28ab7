"""SafeStrTuple and NonEmptySafeStrTuple: validated keys that are plain tuples.

Both are ``tuple`` subclasses, so they compare equal to and hash like the
plain tuple of the same strings (``SafeStrTuple("a", "b") == ("a", "b")``);
a 1-part one also equals its str (``SafeStrTuple("a") == "a"``).
Arguments are flattened left to right: strings, sequences of strings and
other SafeStrTuples. Parts are checked by :func:`persidict.keys.check_part`.
This module is pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

from persidict.keys import SAFE_CHARS, SAFE_CHARS_SET, check_part


def _flatten(args: Iterable[Any], whole: Any) -> Iterator[str]:
    for arg in args:
        if isinstance(arg, str):
            yield check_part(arg, whole)
        elif isinstance(arg, Sequence) and not isinstance(arg, (bytes, bytearray, Mapping)):
            yield from _flatten(arg, whole)
        else:
            raise TypeError(
                f"invalid key part {arg!r:.80} in {whole!r:.120}: parts must be str "
                f"(or sequences of str), not {type(arg).__name__}"
            )


class SafeStrTuple(tuple):
    """A flat tuple of URL/filename-safe strings (``A-Z a-z 0-9 ( ) _ - ~ . =``).

    >>> SafeStrTuple("a", ["b", "c"])
    SafeStrTuple(('a', 'b', 'c'))
    >>> SafeStrTuple("a", "b") == ("a", "b")
    True
    """

    __slots__ = ()

    def __new__(cls, *args: Any):
        if len(args) == 1 and type(args[0]) is cls:
            return args[0]
        return super().__new__(cls, _flatten(args, args))

    @classmethod
    def from_valid_parts(cls, parts: tuple[str, ...]):
        """Wrap parts already validated (e.g. read back from a store) without checks."""
        return tuple.__new__(cls, parts)

    @classmethod
    def many_from_valid(cls, head: tuple[str, ...], lasts: Iterable[str]) -> Iterator[Self]:
        """Keys ``(*head, last)`` for each of ``lasts``, parts already validated, without checks.

        Lazy, and built in C-level loops (no Python call per key): a listing
        makes one key per stored file. (``head`` repeats without end: not strict.)
        """
        return map(tuple.__new__, repeat(cls), zip(*map(repeat, head), lasts, strict=False))

    def __getnewargs__(self) -> tuple[str, ...]:
        return tuple(self)

    @property
    def strings(self) -> tuple[str, ...]:
        """The parts as a plain tuple."""
        return tuple(self)

    str_chain = strings

    def __add__(self, other: Any) -> SafeStrTuple:
        return SafeStrTuple(self, other)

    def __radd__(self, other: Any) -> SafeStrTuple:
        return SafeStrTuple(other, self)

    def __eq__(self, other: object) -> bool:
        # A 1-part key also equals its str (random_key() == "k"), as in persidict 0.309.0.
        if isinstance(other, str):
            return len(self) == 1 and self[0] == other
        if isinstance(other, SafeStrTuple) and type(other).__eq__ is not type(self).__eq__:
            return other.__eq__(self)  # a subclass that redefines equality decides
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    # Hash of the plain tuple: a key is found by the tuple of its parts. A str
    # equal to a 1-part key hashes differently, so "k" does not find ("k",) in
    # a set or dict (as in persidict 0.309.0): look keys up as tuples.
    __hash__ = tuple.__hash__

    def __reversed__(self) -> Self:  # type: ignore[override]
        """The parts in reverse order, as a key of the same class (as in persidict 0.309.0)."""
        return tuple.__new__(type(self), tuple(self)[::-1])

    def __copy__(self) -> Self:
        return self  # immutable

    def __deepcopy__(self, memo: dict) -> Self:
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({tuple(self)!r})"

    def __str__(self) -> str:
        """The parts joined by ``/``, as the command line and the store's paths write a key.

        >>> print(SafeStrTuple("Eliza", "year"))
        Eliza/year
        """
        return "/".join(self)


class NonEmptySafeStrTuple(SafeStrTuple):
    """A SafeStrTuple with at least one part: what a PersiDict key is."""

    __slots__ = ()

    def __new__(cls, *args: Any):
        result = super().__new__(cls, *args)
        if not result:
            raise ValueError("invalid key (): a key needs at least one part")
        return result


def get_safe_chars() -> set[str]:
    """The characters allowed in key parts (a new set each call)."""
    return set(SAFE_CHARS_SET)


def replace_unsafe_chars(a_str: str, replace_with: str) -> str:
    """``a_str`` with every character outside the safe set replaced by ``replace_with``."""
    return "".join(c if c in SAFE_CHARS_SET else replace_with for c in a_str)


__all__ = [
    "SAFE_CHARS",
    "SAFE_CHARS_SET",
    "NonEmptySafeStrTuple",
    "SafeStrTuple",
    "get_safe_chars",
    "replace_unsafe_chars",
]

"""The bounds of decoding an untrusted json document: size, digits, element counts, calls.

A small document must not become a big value, a long computation or a
call of anything but a data constructor with data arguments:

- everything a decoder builds beyond plain JSON (decompressed bytes, numpy
  arrays, containers made by constructors) is charged to a :class:`Budget` of
  ``MAX_EXPANSION`` times the document's size plus ``BUDGET_FLOOR`` bytes;
- numbers given as text (``int``, ``Fraction``, ``Decimal``) carry at most
  ``MAX_DIGITS`` digits and an exponent of at most ``MAX_DIGITS``;
- a constructor of a data type gets materialized data (no ``range`` or
  iterator to expand, no size for ``bytearray``);
- a numpy dtype has items of at most ``MAX_ITEMSIZE`` bytes.

Pure: no I/O.
"""

from __future__ import annotations

import re
import zlib
from decimal import Decimal
from fractions import Fraction
from typing import Any

from persidict.formats.base import FormatError

MAX_EXPANSION = 64  # a document decodes to at most this many times its size ...
BUDGET_FLOOR = 16 << 20  # ... plus this many bytes
MAX_DIGITS = 4300  # Python's own default limit on int <-> str conversions
MAX_ITEMSIZE = 1 << 20  # bytes per array item (a dtype 'V2000000000' is refused)
_POINTER = 8  # what one element of a built container costs at least

_EXPONENT = re.compile(r"[eE]\s*([+-]?\d+)")


class Budget:
    """Bytes a decoder may still build; :meth:`charge` raises FormatError once spent."""

    def __init__(self, document_size: int) -> None:
        self.limit = BUDGET_FLOOR + MAX_EXPANSION * document_size
        self.left = self.limit

    def charge(self, nbytes: int, what: str) -> None:
        """Take ``nbytes`` for ``what`` (FormatError if the budget cannot cover it)."""
        self.left -= max(0, int(nbytes))
        if self.left < 0:
            raise FormatError(
                f"refused to decode {what}: the document would decode to more than "
                f"{self.limit:,} bytes ({MAX_EXPANSION}x its size + {BUDGET_FLOOR >> 20} MiB)"
            )

    def inflate(self, data: bytes, what: str) -> bytes:
        """``zlib.decompress(data)``, stopped as soon as it outgrows the budget."""
        inflater = zlib.decompressobj()
        out = inflater.decompress(data, max(self.left, 0) + 1)
        self.charge(len(out), what)
        if inflater.unconsumed_tail or not inflater.eof:
            raise FormatError(f"refused to decode {what}: truncated or oversized zlib data")
        return out


def check_number_text(text: str, what: str) -> None:
    """FormatError if ``text`` (for int, float, Fraction, Decimal) has too many digits."""
    digits = sum(c.isdigit() for c in text) if len(text) > MAX_DIGITS else 0
    exponent = _EXPONENT.search(text)
    if digits > MAX_DIGITS or (exponent and len(exponent.group(1).lstrip("+-0")) > 4):
        raise FormatError(
            f"refused to decode {what} from {text[:40]!r}: more than {MAX_DIGITS} digits "
            "or an exponent over 9999"
        )
    if exponent and abs(int(exponent.group(1))) > MAX_DIGITS:
        raise FormatError(
            f"refused to decode {what} from {text[:40]!r}: an exponent over {MAX_DIGITS}"
        )


def bounded_int(text: str) -> int:
    """``int(text)`` with at most MAX_DIGITS digits, whatever the interpreter's limit."""
    check_number_text(text, "an int")
    return int(text)


_NUMERIC = (int, float, complex, Decimal, Fraction)
_LAZY = (range, map, filter, zip, enumerate, reversed)


def check_call(cls: Any, args: tuple, budget: Budget) -> None:
    """FormatError unless calling the data type ``cls`` with ``args`` builds a bounded value."""
    name = getattr(cls, "__name__", repr(cls))
    for arg in args:
        if isinstance(arg, _LAZY) or (hasattr(arg, "__next__") and not isinstance(arg, str)):
            raise FormatError(
                f"refused to decode {name}({type(arg).__name__}): only data is expanded"
            )
        if isinstance(arg, str) and isinstance(cls, type) and issubclass(cls, _NUMERIC):
            check_number_text(arg, name)
        elif isinstance(arg, int) and isinstance(cls, type) and issubclass(cls, (bytes, bytearray)):
            raise FormatError(f"refused to decode {name}({arg}): a size is not data")
        elif isinstance(arg, tuple) and cls is Decimal and len(arg) == 3:
            digits, exponent = arg[1], arg[2]
            if len(digits) > MAX_DIGITS or (
                isinstance(exponent, int) and abs(exponent) > MAX_DIGITS
            ):
                raise FormatError(f"refused to decode a Decimal of {len(digits)} digits")
        elif (
            isinstance(arg, int) and not isinstance(arg, bool) and arg.bit_length() > 4 * MAX_DIGITS
        ):
            raise FormatError(f"refused to decode {name} of an int over {MAX_DIGITS} digits")
        if isinstance(arg, (str, bytes, bytearray)):
            budget.charge(len(arg), name)
        elif hasattr(arg, "__len__"):
            budget.charge(_POINTER * len(arg), name)

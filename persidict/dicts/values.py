"""What a dict may store and hand back: each rule of values once. Pure: no I/O.

- A joker (``KEEP_CURRENT``, ``DELETE_CURRENT``) is a command, never a value.
- With ``base_class_for_values``, every value written and read is an instance
  of it (TypeError naming the key or the file otherwise).
- Bytes written as they are (the filesystem view) are checked against the
  base class without running stored code: a pickle by reading its opcodes
  (:mod:`persidict.safe_pickle`: nothing is built), other formats by their
  decoder, which runs no code and bounds its work (json decodes data only).
"""

from __future__ import annotations

from typing import Any

from persidict.formats import Format, FormatError
from persidict.jokers import Joker
from persidict.safe_pickle import pickled_class


def check_storable(value: Any, key: Any, base_class: type | None) -> None:
    """TypeError unless ``value`` may be stored under ``key``."""
    if isinstance(value, Joker):
        raise TypeError(f"{value!r} is a command, not a value that can be stored")
    if base_class is not None and not isinstance(value, base_class):
        raise TypeError(
            f"value for key {key!r} is a {type(value).__name__}; this dict "
            f"stores only instances of {base_class.__name__} (base_class_for_values)"
        )


def check_class(value: Any, base_class: type | None, where: str) -> Any:
    """``value`` if it is of ``base_class`` (or there is none); TypeError naming ``where``."""
    if base_class is not None and not isinstance(value, base_class):
        raise TypeError(
            f"value in {where} is a {type(value).__name__}, not an "
            f"instance of {base_class.__name__} (base_class_for_values)"
        )
    return value


def check_incoming(
    data: bytes | bytearray | memoryview, fmt: Format, base_class: type, where: str
) -> None:
    """TypeError unless ``data`` in ``fmt`` holds a ``base_class``; runs no stored code.

    A pickle is judged by its opcodes, never loaded: one whose top-level
    class they cannot tell (a function's result, a class not imported here)
    is a FormatError naming ``where``.
    """
    if fmt.name != "pkl":
        check_class(fmt.decode(bytes(data), where), base_class, where)
        return
    try:
        cls, exact = pickled_class(data)
    except Exception as exc:  # any malformed or unjudgeable pickle: say which check failed
        raise FormatError(f"cannot check {where} against {base_class.__name__}: {exc}") from exc
    if not issubclass(cls, base_class):
        kind = "a" if exact else "an instance of a subclass of"
        raise TypeError(
            f"value in {where} is {kind} {cls.__name__}, not an "
            f"instance of {base_class.__name__} (base_class_for_values)"
        )

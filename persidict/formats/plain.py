"""The txt (str as UTF-8) and bytes (bytes as they are) formats."""

from __future__ import annotations

from typing import Any

from persidict.formats.base import FormatError


def txt_dumps(value: Any) -> bytes:
    if not isinstance(value, str):
        raise FormatError(f"format 'txt' stores str values only, not {type(value).__name__}")
    return value.encode("utf-8")


def txt_loads(data: bytes) -> str:
    return data.decode("utf-8")


def txt_check(data: bytes) -> None:
    data.decode("utf-8")


def bytes_dumps(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise FormatError(
            f"format 'bytes' stores bytes-like values only, not {type(value).__name__}"
        )
    return bytes(value)


def bytes_check(data: bytes) -> None:
    """Any bytes are a valid value."""

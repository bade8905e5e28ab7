"""like(): the constructor arguments that make a PersiDict see another dict's keys."""

from __future__ import annotations

from typing import Any

from persidict.dicts.base import PersiDict


def like(source: PersiDict) -> dict[str, Any]:
    """Arguments for ``PersiDict.__init__`` giving ``source``'s format, layout, prefix and policies.

    The store is the caller's: ``source``'s own, or one that reads through to
    it (it must hold ``source``'s bytes at ``source``'s paths).
    """
    if not isinstance(source, PersiDict):
        raise TypeError(f"expected a PersiDict, not {type(source).__name__}")
    return {
        "serialization_format": source.format,
        "digest_len": source.digest_len,
        "append_only": source.append_only,
        "base_class_for_values": source.base_class_for_values,
        "prefix": source.prefix,
    }

"""share_view: make a PersiDict see another dict's keys, through a given store."""

from __future__ import annotations

from persidict.dicts.base import PersiDict
from persidict.storage.base import ByteStore


def share_view(target: PersiDict, source: PersiDict, store: ByteStore) -> None:
    """Give ``target`` the format, key layout, prefix and policies of ``source``, over ``store``.

    ``store`` must hold ``source``'s bytes at ``source``'s paths (the same
    store, or one that reads through to it).
    """
    if not isinstance(source, PersiDict):
        raise TypeError(f"expected a PersiDict, not {type(source).__name__}")
    target.store = store
    target.format = source.format
    target.layout = source.layout
    target.append_only = source.append_only
    target.base_class_for_values = source.base_class_for_values
    target._prefix = source._prefix

"""Dicts built on other dicts: write-once, and read-through caches."""

from persidict.wrappers.cached import AppendOnlyDictCached, MutableDictCached
from persidict.wrappers.write_once import WriteOnceDict

__all__ = ["AppendOnlyDictCached", "MutableDictCached", "WriteOnceDict"]

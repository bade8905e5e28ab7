"""persidict 0.309.0's module path for AppendOnlyDictCached (re-exported)."""

from persidict.wrappers.cached import AppendOnlyDictCached

__all__ = ["AppendOnlyDictCached"]

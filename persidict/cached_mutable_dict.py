"""persidict 0.309.0's module path for MutableDictCached (re-exported)."""

from persidict.wrappers.cached import MutableDictCached

__all__ = ["MutableDictCached"]

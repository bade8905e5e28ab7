"""persidict 0.309.0's module path for OverlappingMultiDict (re-exported)."""

from persidict.dicts.overlapping import OverlappingMultiDict

__all__ = ["OverlappingMultiDict"]

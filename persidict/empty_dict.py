"""persidict 0.309.0's module path for EmptyDict (re-exported)."""

from persidict.dicts.empty import EmptyDict

__all__ = ["EmptyDict"]

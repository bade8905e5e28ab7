"""persidict 0.309.0's module path for LocalDict (re-exported)."""

from persidict.dicts.local import LocalDict

__all__ = ["LocalDict"]

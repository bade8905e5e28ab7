"""persidict 0.309.0's module path for WriteOnceDict (re-exported)."""

from persidict.wrappers.write_once import WriteOnceDict

__all__ = ["WriteOnceDict"]

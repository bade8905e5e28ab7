"""persidict 0.309.0's module path for BasicS3Dict (re-exported)."""

from persidict.dicts.basic_s3 import BasicS3Dict

__all__ = ["BasicS3Dict"]

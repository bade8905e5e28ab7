"""WriteOnceDict: the first value written to a key wins; later writes are checked, not stored."""

from __future__ import annotations

import random
from typing import Any

from persidict.conditions import ValueType
from persidict.dicts.base import PersiDict
from persidict.dicts.commits import NO_VALUE
from persidict.dicts.file_dir import FileDirDict
from persidict.errors import MutationPolicyError
from persidict.jokers import KEEP_CURRENT
from persidict.storage.base import Payload, payload_bytes
from persidict.wrappers.view import like


class WriteOnceDict(PersiDict[ValueType]):
    """An append-only dict where writing a key again is allowed and ignored.

    Made for results that many workers may compute and store: the first write
    is an atomic exclusive create, and any later write of the same key is
    assumed to carry the same value. With probability ``p_consistency_checks``
    a later write is compared with the stored value, and a difference raises
    MutationPolicyError.

    Args:
        wrapped_dict: an append-only PersiDict holding the data (default:
            ``FileDirDict(append_only=True)``).
        p_consistency_checks: probability in [0, 1] of checking a repeated
            write; None means 0.

    >>> from persidict import LocalDict
    >>> d = WriteOnceDict(wrapped_dict=LocalDict(append_only=True), p_consistency_checks=1)
    >>> d["k"] = 1
    >>> d["k"] = 1      # ignored (and checked)
    """

    def __init__(
        self,
        *,
        wrapped_dict: PersiDict[ValueType] | None = None,
        p_consistency_checks: float | None = None,
    ) -> None:
        if wrapped_dict is None:
            wrapped_dict = FileDirDict(append_only=True)
        if not isinstance(wrapped_dict, PersiDict):
            raise TypeError(f"wrapped_dict must be a PersiDict, not {type(wrapped_dict).__name__}")
        if not wrapped_dict.append_only:
            raise ValueError(f"wrapped_dict {wrapped_dict!r} must be append-only")
        super().__init__(wrapped_dict.store, **like(wrapped_dict))
        self.wrapped_dict = wrapped_dict
        self.p_consistency_checks = p_consistency_checks
        self._checks_attempted = 0
        self._checks_passed = 0

    @property
    def p_consistency_checks(self) -> float:
        """Probability of comparing a repeated write with the stored value."""
        return self._p_consistency_checks

    @p_consistency_checks.setter
    def p_consistency_checks(self, value: float | None) -> None:
        if value is KEEP_CURRENT and hasattr(self, "_p_consistency_checks"):
            return
        value = 0.0 if value is None else value
        if not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"p_consistency_checks must be in [0, 1], not {value!r}")
        self._p_consistency_checks = float(value)

    @property
    def consistency_checks_attempted(self) -> int:
        return self._checks_attempted

    @property
    def consistency_checks_passed(self) -> int:
        return self._checks_passed

    @property
    def consistency_checks_failed(self) -> int:
        return self._checks_attempted - self._checks_passed

    def get_params(self) -> dict[str, Any]:
        return {
            "p_consistency_checks": self.p_consistency_checks,
            "wrapped_dict": self.wrapped_dict,
        }

    def get_subdict(self, prefix_key: Any) -> WriteOnceDict:
        return WriteOnceDict(
            wrapped_dict=self.wrapped_dict.get_subdict(prefix_key),
            p_consistency_checks=self.p_consistency_checks,
        )

    def set_item_if(self, key: Any, **kwargs: Any) -> Any:
        """Refused (MutationPolicyError), as in persidict 0.309.0: a key here is never replaced.

        ``setdefault_if`` inserts a key that is absent.
        """
        raise MutationPolicyError(
            "write-once", f"set_item_if of key {key!r} in {self.store.url}: use setdefault_if"
        )

    def _keep_existing(self, key: Any, path: str, data: Payload, value: Any) -> None:
        """A repeated write: ignored, and with probability ``p_consistency_checks`` checked."""
        p = self._p_consistency_checks
        if p > 0 and (p >= 1 or random.random() < p):
            self._check_same(key, path, data, value)

    def _check_same(self, key: Any, path: str, data: Payload, value: Any) -> None:
        self._checks_attempted += 1
        stored, new = self.store.read(path), payload_bytes(data)
        if stored != new and not self._same_value(stored, new, value, path):
            raise MutationPolicyError(
                "write-once", f"key {key!r} in {self.store.url} already holds a different value"
            )
        self._checks_passed += 1

    def _same_value(self, stored: bytes, new: Any, value: Any, path: str) -> bool:
        # Equal values may encode to different bytes (e.g. sets): compare the values.
        # Bytes written as they are (the filesystem view) bring no value: never run them.
        if value is NO_VALUE:
            return False
        try:
            return bool(self._decode(stored, path) == value)
        except (ValueError, TypeError):  # e.g. numpy arrays: elementwise ==
            return False

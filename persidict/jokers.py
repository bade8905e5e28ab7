"""Singleton markers: the jokers KEEP_CURRENT and DELETE_CURRENT, and their base.

Assigning a joker to a key is a command rather than a value:
``d[k] = KEEP_CURRENT`` changes nothing, ``d[k] = DELETE_CURRENT`` removes
``k`` if present. Every marker is a singleton that pickles by name, so
``pickle.loads(pickle.dumps(KEEP_CURRENT)) is KEEP_CURRENT`` in any process.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final


class Singleton:
    """Base of the markers: one instance per class, compared by identity.

    Each concrete marker class is bound to a module-level constant whose
    name is ``_name``; pickling refers to that constant.
    """

    _instance: ClassVar[Any] = None
    _name: ClassVar[str] = ""

    def __new__(cls):
        if cls.__dict__.get("_instance") is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __reduce__(self) -> str:
        return self._name  # pickle stores a reference to the module constant

    def __copy__(self):
        return self

    def __deepcopy__(self, memo: dict) -> Any:
        return self

    def __repr__(self) -> str:
        return self._name or type(self).__name__


class Joker(Singleton):
    """A command assigned in place of a value."""


class KeepCurrentFlag(Joker):
    """``d[k] = KEEP_CURRENT`` leaves ``k`` as it is (present or absent)."""

    _name = "KEEP_CURRENT"


class DeleteCurrentFlag(Joker):
    """``d[k] = DELETE_CURRENT`` removes ``k`` if present, like ``d.discard(k)``."""

    _name = "DELETE_CURRENT"


KEEP_CURRENT: Final = KeepCurrentFlag()
DELETE_CURRENT: Final = DeleteCurrentFlag()

__all__ = [
    "DELETE_CURRENT",
    "KEEP_CURRENT",
    "DeleteCurrentFlag",
    "Joker",
    "KeepCurrentFlag",
    "Singleton",
]

"""The exceptions a dict user catches beyond KeyError, each a subclass of a built-in.

- :class:`MutationPolicyError` (``TypeError``): the dict's policy (append-only,
  write-once) forbids the change.
- :class:`ConcurrencyConflictError` (``RuntimeError``): other writers kept
  winning until the retries ran out.
- :class:`BackendError` (``OSError`` and ``RuntimeError``): the storage itself
  failed (not a missing key, which is a ``KeyError``).
- :class:`OutcomeUnknownError` (a ``BackendError``): a commit's reply was lost
  and its outcome could not be found out.
- :class:`ConditionalWritesUnsupportedError` (a ``BackendError``): the
  backend has no precondition that holds across processes, so conditional
  operations are refused rather than silently wrong.
- :class:`KeyClashError` (``OSError`` and ``ValueError``): a key cannot be
  stored because another key's file or folder holds its path.

This module is pure: no I/O, no imports from the rest of the package.
"""

from __future__ import annotations

from typing import Any


class MutationPolicyError(TypeError):
    """The dict's mutation policy forbids this change.

    ``policy`` names the policy (``"append-only"``, ``"write-once"``);
    the message also names the key and the store where known.
    """

    def __init__(self, policy: str, detail: str = "") -> None:
        super().__init__(f"{policy}: {detail}" if detail else policy)
        self.policy = policy
        self.detail = detail

    def __reduce__(self):  # so that it crosses process boundaries intact
        return (type(self), (self.policy, self.detail))


class KeyClashError(OSError, ValueError):
    """A key's path is taken by another key: its file is a folder of this key's path,
    or this key's file would be a folder of its path (``("x",)`` and ``("x.pkl", "y")``
    on a local folder). The message names both keys; ``filename`` the path.
    """


class LayoutError(ValueError):
    """A folder holds key files of both layouts (ours, paths exactly the keys, and
    persidict 0.309.0's, a digest on every part): open it with an explicit ``digest_len``.
    """


class ConcurrencyConflictError(RuntimeError):
    """An operation gave up after ``attempts`` tries, each lost to another writer."""

    def __init__(self, key: Any, attempts: int) -> None:
        super().__init__(
            f"operation on key {key!r} failed after {attempts} attempt(s): "
            "other writers changed it each time"
        )
        self.key = key
        self.attempts = attempts

    def __reduce__(self):
        return (type(self), (self.key, self.attempts))


class BackendError(OSError, RuntimeError):
    """The storage backend failed; raised with the original error chained.

    An ``OSError`` (what I/O failures are) and a ``RuntimeError`` (what the
    reference library raised), so either ``except`` clause catches it.
    """

    def __init__(
        self, message: str, *, backend: str = "", operation: str = "", key: Any = None
    ) -> None:
        super().__init__(message)
        self.backend = backend
        self.operation = operation
        self.key = key

    def __reduce__(self):
        options = {"backend": self.backend, "operation": self.operation, "key": self.key}
        return (_rebuild_backend_error, (str(self), options))


class OutcomeUnknownError(BackendError):
    """A write or delete may or may not have been applied, and the store cannot tell.

    Raised only where reading back the write's id could not settle it (the
    reply was lost and another writer changed or removed the key since, or
    the server stayed silent). Read the key to see what is stored now.
    """

    value: Any  # set by pop: the value it was removing

    def __reduce__(self):
        return (type(self), (str(self),), dict(self.__dict__))


class ConditionalWritesUnsupportedError(BackendError):
    """The backend cannot make a write conditional across processes; the operation is refused.

    Raised by ``setdefault``, ``pop``, ``transform_item``, append-only writes
    and the ``*_if`` operations on an endpoint that ignores conditional
    headers, or on an fsspec filesystem without a dedicated store (unless
    opened with ``single_process=True``). Plain get/set/del keep working.
    """


def _rebuild_backend_error(message: str, options: dict[str, Any]) -> BackendError:
    return BackendError(message, **options)


__all__ = [
    "BackendError",
    "ConcurrencyConflictError",
    "ConditionalWritesUnsupportedError",
    "KeyClashError",
    "LayoutError",
    "MutationPolicyError",
    "OutcomeUnknownError",
]

"""persidict 0.309.0's module path for the exceptions (re-exported)."""

from persidict.errors import BackendError, ConcurrencyConflictError, MutationPolicyError

__all__ = ["BackendError", "ConcurrencyConflictError", "MutationPolicyError"]

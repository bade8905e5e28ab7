"""LocalDict: a PersiDict held in the memory of this process."""

from __future__ import annotations

from typing import Any

from persidict.conditions import ValueType
from persidict.dicts.base import PersiDict
from persidict.formats import Format
from persidict.storage.memory import MemoryStore


class LocalDict(PersiDict[ValueType]):
    """An in-memory PersiDict: the same API and value formats, no files.

    Values are stored encoded (pickled by default), so what you read back is
    a copy, exactly as with a FileDirDict. Thread-safe; not shared between
    processes. Sub-dicts (``get_subdict``) share the memory of their parent;
    ``backend`` shares the memory of another LocalDict's store.

    >>> d = LocalDict()
    >>> d["a", "b"] = [1, 2]
    >>> d.get_subdict("a")["b"]
    [1, 2]
    """

    def __init__(
        self,
        *,
        backend: MemoryStore | None = None,
        serialization_format: str | Format = "pkl",
        append_only: bool = False,
        base_class_for_values: type | None = None,
        digest_len: int = 0,
        prune_interval: int | None = 64,
    ) -> None:
        # prune_interval tuned the reference library's tree; a flat store needs no pruning,
        # but keeps and reports it (None or <= 0: off), as get_params there does.
        self.prune_interval = (
            None if prune_interval is None or int(prune_interval) <= 0 else int(prune_interval)
        )
        if backend is not None and not isinstance(backend, MemoryStore):
            raise TypeError(f"backend must be a MemoryStore, not {type(backend).__name__}")
        super().__init__(
            backend if backend is not None else MemoryStore(),
            serialization_format,
            digest_len=digest_len,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
        )

    def _address_params(self) -> dict[str, Any]:
        return {"backend": self.store, "prune_interval": self.prune_interval}

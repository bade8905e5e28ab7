"""What the view's mixins (batches, folders, writes, copies) use of PersiDictFileSystem."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

    from persidict.dicts.base import PersiDict
    from persidict.keys import Key
    from persidict.storage.base import ByteStore, Payload
    from persidict_fs.isolated_checks import IsolatedChecks
    from persidict_fs.paths import ViewPaths


class ViewMixin:
    """Base of the view's mixins: declares the view's parts they call (no behaviour)."""

    if TYPE_CHECKING:  # what the mixin uses of PersiDictFileSystem (and fsspec's base)
        store: ByteStore
        dict: PersiDict[Any]
        _paths: ViewPaths
        _checks_keys: bool
        isolated_checks: IsolatedChecks | None
        spill_threshold: int
        exists: Callable[..., bool]
        expand_path: Callable[..., list[str]]
        makedirs: Callable[..., None]

        @classmethod
        def _strip_protocol(cls, path: Any) -> Any: ...
        def _where(self, path: str) -> str: ...
        def _stored_file(self, path: str) -> str: ...
        def _target(self, path: str, data: Payload) -> tuple[str, Key | None, Payload]: ...
        def _store_one(
            self,
            stored: str,
            key: Key | None,
            data: Payload,
            exclusive: bool = False,
            etag: Any = None,
        ) -> str | None: ...
        def isdir(self, path: str) -> bool: ...
        def cat_file(
            self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
        ) -> bytes: ...
        def open_stored(self, path: str) -> BinaryIO: ...
        def pipe_file(
            self, path: str, value: Payload, mode: str = "overwrite", **kwargs: Any
        ) -> None: ...

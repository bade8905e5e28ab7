"""Writing through the view: checked bytes to a key or a plain file, appends, open for writing.

A mixin of :class:`persidict_fs.filesystem.PersiDictFileSystem`: a path that
is a key of the dict's format is written through the dict (its rules and its
format check), any other file straight to the store; ``append_file`` is a
compare-and-swap of one version (``persidict_fs.appending``).
"""

from __future__ import annotations

import errno
from typing import Any

from persidict.keys import Key
from persidict.storage.base import Payload, PreconditionFailed, payload_bytes
from persidict_fs import appending
from persidict_fs.files import StagedFile
from persidict_fs.view_mixin import ViewMixin

# Compare-and-swap tries of one append before EAGAIN. Under contention each try
# wins about as often as there are appenders at once; 100 make a loss by bad
# luck negligible (4 at once: 0.75**100), while a store that never keeps a
# version long enough still fails within a few seconds.
APPEND_ATTEMPTS = 100


class Writes(ViewMixin):
    """``pipe_file``, ``append_file``, ``open`` for writing; the one write path of the view."""

    def _checked(self, path: str, data: Payload) -> Payload:
        """``data`` for the key at ``path``, once the dict's format accepts it."""
        if not self._checks_keys:
            return data  # any bytes will do: streamed as they come
        data = bytes(payload_bytes(data))
        if self.isolated_checks is not None:  # the mount: a crash costs this write only
            self.isolated_checks.validate(self.dict.format, data, self._where(path))
        else:
            self.dict.format.validate(data, self._where(path))
        return data

    def _target(self, path: str, data: Payload) -> tuple[str, Key | None, Payload]:
        """(stored path, key or None, data to store): every check done, nothing written."""
        key = self._paths.key(path)  # ValueError naming a bad name
        stored = self._paths.file(path)
        return stored, key, data if key is None else self._checked(path, data)

    def _store_one(
        self, stored: str, key: Key | None, data: Payload, exclusive: bool = False, etag: Any = None
    ) -> str | None:
        """Commit checked ``data``: a key through the dict (its rules), a plain file as is."""
        if key is not None:
            return self.dict.write_bytes(key, data, if_absent=exclusive, etag=etag)
        if exclusive:
            return self.store.create(stored, data)
        if etag is not None:
            return self.store.write_if(stored, data, etag)
        return self.store.write(stored, data)

    def _commit(self, path: str, data: Payload, mode: str = "overwrite", etag: Any = None) -> None:
        if mode not in ("overwrite", "create"):
            raise ValueError(f"mode must be 'overwrite' or 'create', not {mode!r}")
        stored, key, data = self._target(path, data)
        created = self._store_one(stored, key, data, mode == "create", etag)
        if created is None and mode == "create":
            raise FileExistsError(errno.EEXIST, f"{self._where(path)} exists", path)

    def pipe_file(self, path: str, value: Payload, mode: str = "overwrite", **kwargs: Any) -> None:
        """Store ``value`` at ``path`` atomically; ``mode="create"`` only if absent.

        ``value`` is bytes, or a callable writing them into a binary file
        (a big file streams into the store without a copy in memory).
        """
        self._commit(self._strip_protocol(path), value, mode)

    def append_file(
        self, path: str, data: Payload, *, repeatable: bool = False, attempts: int = APPEND_ATTEMPTS
    ) -> int:
        """Append ``data`` to the file at ``path`` atomically (making it if absent); its new size.

        Nothing a concurrent writer stores is lost: the old bytes are read
        from one version, pinned to its ETag, and ``old + data`` is stored
        only if that version is still the stored one (a compare-and-swap),
        else the whole append is tried again with the newer bytes, up to
        ``attempts`` times with jittered back-off; then OSError EAGAIN and
        nothing is written. A key goes through the dict, its rules and
        its format check (of the whole new value). ``data`` is bytes, or a
        callable writing them: called once (its bytes kept in a temp file for
        the attempts), or once per attempt if ``repeatable`` (it writes the
        same bytes every time). Costs on S3, per attempt: one GET of the old
        bytes' first 8 MB with their ETag, ranged GETs of the rest, one PUT.

        >>> from persidict_fs.filesystem import PersiDictFileSystem
        >>> fs = PersiDictFileSystem(fo="memory://demo/append")
        >>> fs.append_file("log.txt", b"one "), fs.append_file("log.txt", b"two")
        (4, 7)
        """
        path = self._strip_protocol(path)
        stored = self._paths.file(path)  # a bad name fails before anything is read
        with (
            appending.Added(data, repeatable) as added,
            appending.one_at_a_time(self.store.url, stored),
        ):
            for attempt in range(attempts):
                try:
                    return self._append_once(path, stored, added)
                except PreconditionFailed:
                    appending.back_off(attempt)
        raise OSError(
            errno.EAGAIN,
            f"{self._where(path)} changed {attempts} times while appending; nothing written",
            path,
        )

    def _append_once(self, path: str, stored: str, added: appending.Added) -> int:
        """One try: PreconditionFailed if the file changed meanwhile (nothing written then)."""
        old = appending.Version(self.store, stored)
        whole = appending.Joined(old, added, streamed=self.store.is_local)
        try:
            _, key, checked = self._target(path, whole.payload)
            if old.etag is None:
                if self._store_one(stored, key, checked, exclusive=True) is None:
                    raise PreconditionFailed(f"{self._where(path)} was made meanwhile")
            else:
                self._store_one(stored, key, checked, etag=old.etag)
        finally:
            whole.close()
        return old.size + added.size

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        path = self._strip_protocol(path)
        if mode == "rb":
            return self.open_stored(path)
        if mode not in ("wb", "xb", "ab"):
            raise ValueError(f"mode {mode!r} is not supported for {self._where(path)}")
        stored = self._paths.file(path)  # a bad name fails now, not on close
        if mode == "xb" and self.store.exists(stored):
            raise FileExistsError(errno.EEXIST, f"{self._where(path)} exists", path)

        def commit(data: Payload) -> None:
            if mode == "wb":
                self._commit(path, data)
            elif mode == "ab":  # after whatever is stored at close: nothing lost
                self.append_file(path, data, repeatable=True)  # a spool's copy: the same each time
            else:
                self._commit(path, data, mode="create")

        return StagedFile(self, path, mode, commit, autocommit, self.spill_threshold)

"""The one write and delete path of a PersiDict, where every rule of the dict lives.

Every change of a stored value goes through :meth:`Commits._commit` or
:meth:`Commits._delete` (and their batch forms): ``d[k] = v``, ``setitems``,
the conditional operations and the filesystem view (:meth:`Commits.write_bytes`).
The rules: append-only, the write-once hook (:meth:`Commits._keep_existing`),
``base_class_for_values`` and clashing paths named as keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from persidict.conditions import ITEM_NOT_AVAILABLE
from persidict.dicts.stored import StoredItems
from persidict.dicts.values import check_incoming
from persidict.errors import KeyClashError, MutationPolicyError
from persidict.keys import KeyLike, normalize_key
from persidict.safe_str_tuple import NonEmptySafeStrTuple
from persidict.storage.base import MISSING, Payload, payload_bytes

NO_VALUE: Any = object()
"""The ``value`` of a commit of bytes written as they are (the filesystem view)."""
_CLASHES = (NotADirectoryError, IsADirectoryError, FileExistsError)
"""What a store raises when a key's file and another key's folder want one path."""


class Commits(StoredItems):
    """Storing and deleting values under every rule of the dict."""

    def _check_mutable(self, key: Any, action: str) -> None:
        """MutationPolicyError if append-only; ``key`` None means the whole dict."""
        if self.append_only:
            what = f"{action} key {key!r}" if key is not None else action
            raise MutationPolicyError(
                "append-only",
                f"cannot {what} in {self.store.url}: this dict never "
                "overwrites or deletes a stored value",
            )

    def _commit(
        self, key: Any, path: str, data: Payload, expected: Any = None, value: Any = NO_VALUE
    ) -> str | None:
        """Store ``data`` as the value of ``key`` at ``path``; the new ETag.

        ``expected`` None: over whatever is stored; an append-only dict only
        creates, and if ``key`` is stored :meth:`_keep_existing` refuses or
        keeps it (None: nothing written). ``ITEM_NOT_AVAILABLE``: only if
        absent (None if something is stored). An ETag: only if that version
        is still stored (PreconditionFailed otherwise; never on an
        append-only dict). ``value`` is what ``data`` encodes, if known.
        """
        try:
            if expected is None and not self.append_only:
                return self.store.write(path, data)
            if expected is None or expected is ITEM_NOT_AVAILABLE:
                etag = self.store.create(path, data)
                if etag is None and expected is None:
                    self._keep_existing(key, path, data, value)
                return etag
            self._check_mutable(key, "overwrite")
            return self.store.write_if(path, data, expected)
        except _CLASHES as exc:
            raise self._clash(key, path, exc) from exc

    def _keep_existing(self, key: Any, path: str, data: Payload, value: Any) -> None:
        """A write found ``key`` stored in an append-only dict: refuse (a hook).

        WriteOnceDict overrides it to accept (and sometimes check) the repeat.
        """
        self._check_mutable(key, "overwrite")

    def _commit_many(self, entries: dict[str, tuple[Any, bytes, Any]]) -> None:
        """``_commit`` of each ``path: (key, data, value)`` concurrently; the first error raises."""
        data = {path: blob for path, (_, blob, _) in entries.items()}
        commit_many = self.store.create_many if self.append_only else self.store.write_many
        results = commit_many(data)
        for (path, (key, blob, value)), result in zip(entries.items(), results, strict=True):
            if isinstance(result, _CLASHES):
                raise self._clash(key, path, result) from result
            if isinstance(result, BaseException):
                raise result
            if result is None:
                self._keep_existing(key, path, blob, value)

    def _delete(self, key: Any, path: str, expected: str | None = None) -> None:
        """Remove ``key`` (if its ETag is still ``expected``); MISSING if absent."""
        self._check_mutable(key, "delete")
        if expected is None:
            self.store.delete(path)
        else:
            self.store.delete_if(path, expected)

    def _delete_many(self, keys: list[Any], *, missing_ok: bool) -> list[BaseException | None]:
        """Remove ``keys`` concurrently; per key None or the error (MISSING if absent)."""
        if keys:
            self._check_mutable(keys[0], "delete")
        return self.store.delete_many([self._path(k) for k in keys], missing_ok=missing_ok)

    def _clash(self, key: Any, path: str, exc: OSError) -> KeyClashError:
        """The error for ``key``, whose path another key's file or folder occupies."""
        other = self._key_in_the_way(path)
        whom = "a stored file or folder" if other is None else f"key {tuple(other)!r}"
        return KeyClashError(
            exc.errno or 0,
            f"cannot store key {normalize_key(key)!r} in {self.store.url}: {whom} is in "
            f"the way (a key's file and another key's folder cannot share a name; "
            f"{exc.strerror or exc})",
            self._where(path),
        )

    def _key_in_the_way(self, path: str) -> NonEmptySafeStrTuple | None:
        """The key whose file is a folder of ``path``, or whose folder ``path`` is."""
        parts = path.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if self.store.exists(folder):
                return self._key_of(folder)
        below = next(iter(self.store.iter_paths(path)), None)
        return None if below is None else self._key_of(below)

    # for views of the store as files (persidict_fs): the same path as d[k] = v
    def write_bytes(
        self, key: KeyLike, data: Payload, *, if_absent: bool = False, etag: str | None = None
    ) -> str | None:
        """Store already-encoded ``data`` as the value of ``key``, under every rule of ``d[k] = v``.

        ``if_absent``: only if ``key`` is absent (None if something is stored);
        ``etag``: only if its stored ETag is ``etag`` (PreconditionFailed
        otherwise). The bytes are checked against ``base_class_for_values``
        without running stored code. Returns the new ETag; None also when a
        write-once dict keeps the value it holds.
        """
        path = self._path(key)
        cls = self.base_class_for_values
        if cls is not None:
            where = f"the bytes written for key {key!r} in {self.store.url}"
            check_incoming(payload_bytes(data), self.format, cls, where)
        expected = ITEM_NOT_AVAILABLE if if_absent else etag
        return self._commit(key, path, data, expected)

    def discard_many(self, keys: Iterable[KeyLike]) -> list[bool]:
        """Delete each of ``keys`` concurrently; per key True if it was there."""
        keys = list(keys)
        found = []
        for result in self._delete_many(keys, missing_ok=False):
            if result is not None and not isinstance(result, MISSING):
                raise result
            found.append(result is None)
        return found


__all__ = ["NO_VALUE", "Commits"]

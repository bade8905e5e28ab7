"""View paths of the filesystem <-> stored paths of a dict's keys.

A view path is the key's parts joined by ``/`` plus the format's extension
(``Eliza/year.json``), relative to the store root. It differs from the
stored path only when the dict adds digest suffixes (case-insensitive
filesystems); those never show in the view. Pure: no I/O.
"""

from __future__ import annotations

from persidict.keys import Key, KeyLayout, check_part


class ViewPaths:
    """Maps view paths to stored paths of one dict layout, and back."""

    def __init__(self, layout: KeyLayout, where: str) -> None:
        self.layout = layout
        self.extension = layout.extension
        self.where = where  # names the store in error messages

    def _invalid(self, path: str, reason: object) -> ValueError:
        return ValueError(f"invalid path {path!r} in {self.where}: {reason}")

    def parts(self, path: str) -> Key:
        """The validated parts of a view path ('' is the root, no parts)."""
        if not path:
            return ()
        parts = tuple(path.split("/"))
        for part in parts:
            try:
                check_part(part)
            except (TypeError, ValueError) as exc:
                raise self._invalid(path, exc) from None
        return parts

    def key(self, path: str) -> Key:
        """The key a file path stands for; ValueError naming the path if none."""
        parts = self.parts(path)
        if not parts:
            raise self._invalid(path, "the store root is a directory, not a file")
        if self.extension:
            last = parts[-1]
            if not last.endswith(self.extension) or last == self.extension:
                raise self._invalid(path, f"file names in this store end with {self.extension!r}")
            parts = (*parts[:-1], last[: -len(self.extension)])
            try:
                check_part(parts[-1])
            except ValueError as exc:
                raise self._invalid(path, exc) from None
        return parts

    def file(self, path: str) -> str:
        """Stored path of the file at view path ``path``."""
        return self.layout.to_path(self.key(path))

    def folder(self, path: str) -> str:
        """Stored folder of the directory at view path ``path``."""
        return self.layout.to_dir(self.parts(path))

    def view_file(self, stored: str) -> str | None:
        """View path of a stored file, or None if it holds no key of this dict."""
        key = self.layout.from_path(stored)
        return None if key is None else "/".join(key) + self.extension

    def view_dir(self, parent: str, name: str) -> str | None:
        """View path of stored sub-folder ``name`` of view directory ``parent``."""
        part = self.layout.from_dir_name(name)
        if part is None:
            return None
        return f"{parent}/{part}" if parent else part

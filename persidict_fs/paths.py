"""View paths of the filesystem <-> stored paths: keys of a dict, and plain files.

Any name a Linux disk accepts is a file of the view, stored under that
literal name. A path whose folders are key parts and whose name is a key
part plus the format's extension (``Eliza/year.json``) is the file of a
key; every other path (``New York/notes.txt``) is a plain file that the
dict skips. The two differ only when the dict adds digest suffixes
(case-insensitive filesystems): a key part's folder carries its digest,
which never shows in the view. A view of a sub-dict sees the store from
the sub-dict's folder (``root``). Pure: no I/O.
"""

from __future__ import annotations

from persidict.keys import Key, KeyLayout, is_valid_part
from persidict.storage.base import is_temp_name

MAX_NAME_BYTES = 255  # NAME_MAX of Linux filesystems
FILE_CACHE = 8192  # stored paths of recently used files kept (pure: never stale)


def name_problem(name: str) -> str | None:
    """Why a Linux disk would refuse ``name`` as a file or folder name, or None."""
    if name in ("", ".", ".."):
        return f"{name!r} is not a name (empty parts, '.' and '..' are not allowed)"
    if "\0" in name:
        return "names may not hold NUL"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "names must be valid UTF-8"
    if size > MAX_NAME_BYTES:
        return f"a name may be at most {MAX_NAME_BYTES} bytes in UTF-8, not {size}"
    if is_temp_name(name):
        return "names starting with '.#' are the store's own temp files"
    return None


class ViewPaths:
    """Maps view paths to stored paths of one dict layout, and back."""

    def __init__(self, layout: KeyLayout, where: str, root: str = "") -> None:
        self.layout = layout
        self.extension = layout.extension
        self.where = where  # names the store in error messages
        self.root = root  # the stored folder the view's '' stands for
        self._cut = len(root) + 1 if root else 0
        self._files: dict[str, str] = {}  # recent answers of file(): the mount asks per read

    def file(self, path: str) -> str:
        """Stored path of the file at view path ``path``."""
        stored = self._files.get(path)
        if stored is None:
            stored = self._file(path)
            if len(self._files) >= FILE_CACHE:
                self._files.clear()
            self._files[path] = stored
        return stored

    def _under_root(self, stored: str) -> str:
        if not self.root:
            return stored
        return f"{self.root}/{stored}" if stored else self.root

    def _invalid(self, path: str, reason: object) -> ValueError:
        return ValueError(f"invalid path {path!r} in {self.where}: {reason}")

    def parts(self, path: str) -> tuple[str, ...]:
        """The parts of a view path ('' is the root, no parts); ValueError naming a bad one."""
        if not path:
            return ()
        parts = tuple(path.split("/"))
        for part in parts:
            problem = name_problem(part)
            if problem is not None:
                raise self._invalid(path, problem)
        return parts

    def key(self, path: str) -> Key | None:
        """The key a file path stands for, or None for a plain file; ValueError if no name."""
        parts = self.parts(path)
        if not parts:
            raise self._invalid(path, "the store root is a directory, not a file")
        return self._key_of(parts)

    def _key_of(self, parts: tuple[str, ...]) -> Key | None:
        *folders, name = parts
        ext = self.extension
        if ext:
            if not name.endswith(ext):
                return None
            name = name[: -len(ext)]
        if not all(map(is_valid_part, folders)) or not is_valid_part(name):
            return None
        return (*folders, name)

    def _stored_dir_part(self, part: str) -> str:
        return self.layout.to_dir((part,)) if is_valid_part(part) else part

    def _file(self, path: str) -> str:
        parts = self.parts(path)
        if not parts:
            raise self._invalid(path, "the store root is a directory, not a file")
        key = self._key_of(parts)
        if key is not None:
            return self._under_root(self.layout.to_path(key))
        if not self.layout.digest_len:
            return self._under_root(path)
        return self._under_root("/".join([*map(self._stored_dir_part, parts[:-1]), parts[-1]]))

    def folder(self, path: str) -> str:
        """Stored folder of the directory at view path ``path``."""
        parts = self.parts(path)
        if not self.layout.digest_len:
            return self._under_root(path)
        return self._under_root("/".join(map(self._stored_dir_part, parts)))

    def _view_dir_part(self, name: str) -> str | None:
        part = self.layout.from_dir_name(name)
        if part is not None:
            return part
        # a key part's folder without its digest is no folder of this view
        return None if is_valid_part(name) else name

    def view_file(self, stored: str) -> str | None:
        """View path of a stored file (below the root), or None if the view cannot show it."""
        full, stored = stored, stored[self._cut :]
        key = self.layout.from_path(stored)
        if key is not None:
            return "/".join(key) + self.extension
        if not self.layout.digest_len:
            shown = stored
        else:
            *folders, name = stored.split("/")
            parts = [self._view_dir_part(f) for f in folders]
            if None in parts:
                return None
            shown = "/".join([*parts, name])  # type: ignore[list-item]
        try:
            # a name of key shape that is not where its key would be is hidden, as before
            return shown if self.file(shown) == full else None
        except ValueError:
            return None  # a name no Linux disk could hold (not UTF-8, say)

    def view_folder(self, stored: str) -> str | None:
        """View path of a stored folder (below the root), or None if the view cannot show it."""
        shown: str | None = ""
        for name in stored[self._cut :].split("/"):
            shown = self.view_dir(shown, name)  # type: ignore[arg-type]  # not None here
            if shown is None:
                return None
        return shown

    def view_dir(self, parent: str, name: str) -> str | None:
        """View path of stored sub-folder ``name`` of view directory ``parent``."""
        part = self._view_dir_part(name)
        if part is None or name_problem(part) is not None:
            return None
        return f"{parent}/{part}" if parent else part

"""What the mount knows of the store's tree: listings and attributes, cached for a while.

A folder's listing (one ``ls`` of the store, with sizes and times) answers
every attribute lookup in it until it expires, and a lookup in a folder
listed before lists it again rather than asking for one name, so ``ls -l``
of 10,000 keys is one listing, not 10,000 requests. Changes made through the mount are
written into the cache at once; changes by others show when it expires.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from fsspec.spec import AbstractFileSystem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stat:
    """The attributes the mount shows: folder or file, size, modification time."""

    is_dir: bool
    size: int = 0
    mtime: float = 0.0


def stat_of(info: dict[str, Any]) -> Stat:
    """A Stat from an fsspec ``info``/``ls`` entry (whatever its time field is called)."""
    if info.get("type") == "directory":
        return Stat(True)
    mtime = 0.0
    for key in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            mtime = float(value)
            break
        if hasattr(value, "timestamp"):
            mtime = value.timestamp()  # type: ignore[union-attr]
            break
    return Stat(False, int(info.get("size") or 0), mtime)


@contextlib.contextmanager
def store_io(what: str, rel: str):
    """Report a failure of the store (unreachable, refusing) as EIO, logged with the path."""
    try:
        yield
    except (FileNotFoundError, NotADirectoryError):
        raise

    except Exception as exc:
        log.error("could not %s %r: %s: %s", what, "/" + rel, type(exc).__name__, exc)
        raise OSError(errno.EIO, f"could not {what} {rel}") from exc


SKEW = 5.0  # seconds between our clock and the store's that a kept time allows


class TreeCache:
    """Listings and attributes of ``fs`` under ``root``, each kept ``ttl`` seconds."""

    def __init__(self, fs: AbstractFileSystem, root: str = "", ttl: float = 1.0) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.ttl = ttl
        self.listings_made = 0  # how many times a folder was listed from the store
        self._lock = threading.Lock()
        self._listings: dict[str, tuple[float, dict[str, Stat]]] = {}
        self._stats: dict[str, tuple[float, Stat | None]] = {}
        # times set through the mount: rel -> (size, time, when it was set)
        self._kept: dict[str, tuple[int, float, float]] = {}

    def full(self, rel: str) -> str:
        """The filesystem's path for mount-relative path ``rel``."""
        return f"{self.root}/{rel}" if self.root else rel

    def list(self, rel: str, fresh: bool = False) -> dict[str, Stat]:
        """Name -> Stat of what folder ``rel`` holds in the store ({} if nothing)."""
        now = time.monotonic()
        with self._lock:
            cached = self._listings.get(rel)
            if cached and cached[0] > now and not fresh:
                return cached[1]
        full = self.full(rel)
        try:
            with store_io("list", rel):
                infos = self.fs.ls(full, detail=True)
        except FileNotFoundError:
            infos = []
        entries = {}
        for info in infos:
            name = info["name"].rstrip("/")
            if name != full:  # ls of a file lists the file itself
                entries[name.rpartition("/")[2]] = stat_of(info)
        log.debug("listed %r: %d entries", rel or "/", len(entries))
        with self._lock:
            for name, st in entries.items():
                kept = self._kept.get(f"{rel}/{name}" if rel else name)
                # a listing may carry the upload time (S3), not the time kept in the
                # file's metadata: the time set here shows while the file is unchanged
                if kept and not st.is_dir and st.size == kept[0] and st.mtime <= kept[2] + SKEW:
                    entries[name] = Stat(False, st.size, kept[1])
            self.listings_made += 1
            # kept ttl from when it arrived: a slow listing must not be stale at once
            self._listings[rel] = (time.monotonic() + self.ttl, entries)
        return entries

    def stat(self, rel: str) -> Stat | None:
        """Attributes of ``rel`` in the store (None if absent): from a listing if one is fresh."""
        if not rel:
            return Stat(True)
        now = time.monotonic()
        parent, _, name = rel.rpartition("/")
        with self._lock:
            listing = self._listings.get(parent)
            if listing and listing[0] > now:
                return listing[1].get(name)
            cached = self._stats.get(rel)
            if cached and cached[0] > now:
                return cached[1]
        if listing is not None:
            # the folder was listed and is being browsed: one listing refreshes
            # every name in it, where a request per name would cost thousands
            return self.list(parent).get(name)
        log.debug("info %r", rel)
        st: Stat | None = None
        try:
            with store_io("look up", rel):
                try:
                    st = stat_of(self.fs.info(self.full(rel)))
                except ValueError as exc:  # a name no stored file can have (a store temp name)
                    log.debug("no %r: %s", rel, exc)
        except FileNotFoundError:
            pass
        with self._lock:
            self._stats[rel] = (now + self.ttl, st)
        return st

    def peek(self, rel: str) -> Stat | None:
        """What the cache holds of ``rel`` right now, without asking the store (None: nothing
        fresh, or absent)."""
        now = time.monotonic()
        parent, _, name = rel.rpartition("/")
        with self._lock:
            listing = self._listings.get(parent)
            if listing and listing[0] > now:
                return listing[1].get(name)
            cached = self._stats.get(rel)
            return cached[1] if cached and cached[0] > now else None

    def kept_time(self, rel: str, size: int, mtime: float | None) -> None:
        """The mount had the store keep ``mtime`` for ``rel`` (None: a write, time now)."""
        with self._lock:
            if mtime is None:
                self._kept.pop(rel, None)
            else:
                self._kept[rel] = (size, mtime, time.time())

    def remember(self, rel: str, st: Stat | None) -> None:
        """Record a change made through the mount (None: removed), so it shows at once."""
        parent, _, name = rel.rpartition("/")
        with self._lock:
            if st is None:
                self._kept.pop(rel, None)
            self._stats[rel] = (time.monotonic() + self.ttl, st)
            listing = self._listings.get(parent)
            if listing:
                if st is None:
                    listing[1].pop(name, None)
                else:
                    listing[1][name] = st

    def forget_all(self) -> None:
        with self._lock:
            self._listings.clear()
            self._stats.clear()

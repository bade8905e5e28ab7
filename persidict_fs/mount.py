"""Mount a store with FUSE: ``persidict_fs.mount(store_or_url, mountpoint)``.

The server runs in its own process (``persidict_fs.mount._main``), so the
caller's signals, threads and GIL stay its own, and Ctrl-C, SIGTERM and
``fusermount -u`` all end it cleanly: libfuse unmounts and the process exits,
within ``stop_timeout`` even while a request hangs on a silent store
(``persidict_fs.fuse_loop``). Every commit is done before the writer's
``close`` returns, so an unmount never loses one. A mount whose server
died ("Transport endpoint is not connected") is found in
``/proc/self/mountinfo`` and lazily unmounted by ``Mount.unmount()`` and by
the next ``mount()`` there; a live mount point is refused.
"""

from __future__ import annotations

import errno
import logging
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

from persidict import PersiDict, open_dict
from persidict.dicts.url import guess_format
from persidict.storage.base import is_temp_name
from persidict_fs.filesystem import PersiDictFileSystem
from persidict_fs.fuse_files import Journal
from persidict_fs.fuse_loop import STOP_TIMEOUT, run_stoppable
from persidict_fs.isolated_checks import IsolatedChecks
from persidict_fs.paths import ViewPaths

if TYPE_CHECKING:
    from persidict_fs.fuse import NameCheck

log = logging.getLogger(__name__)


class MountError(OSError):
    """The mount could not be made or unmade; the message carries the server's log."""


def open_store(
    store_or_url: str | os.PathLike | PersiDict,
    serialization_format: str | None = None,
    **storage_options: Any,
) -> PersiDict:
    """The dict at a URL (format guessed from its files when not given), or the dict itself."""
    if isinstance(store_or_url, PersiDict):
        return store_or_url
    url = os.fspath(store_or_url)
    if serialization_format is None:
        serialization_format = guess_format(url, **storage_options)
    return open_dict(url, serialization_format, **storage_options)


def view_of(d: PersiDict) -> tuple[PersiDictFileSystem, NameCheck]:
    """The filesystem the mount serves for ``d``, and why a path could not be stored."""
    paths = ViewPaths(d.layout, f"the mount of {d.store.url}")

    def check_name(path: str, is_dir: bool) -> str | None:
        try:
            paths.folder(path) if is_dir else paths.file(path)
        except ValueError as exc:
            return str(exc)
        return None

    fs = PersiDictFileSystem(dict=d)
    fs.isolated_checks = IsolatedChecks()  # a crash in a check costs one write, not the mount
    return fs, check_name


def serve(
    store_or_url: str | os.PathLike | PersiDict,
    mountpoint: str | os.PathLike,
    *,
    read_only: bool = False,
    cache_ttl: float = 1.0,
    serialization_format: str | None = None,
    multithreaded: bool | None = None,
    spill_threshold: int | None = None,
    spill_dir: str | None = None,
    stop_timeout: float = STOP_TIMEOUT,
    **storage_options: Any,
) -> bool:
    """Serve the store at ``mountpoint`` until unmounted (Ctrl-C, SIGTERM, SIGHUP, fusermount).

    ``spill_threshold``: bytes a file being written keeps in memory before
    it moves to an anonymous temp file in ``spill_dir`` (default: the
    system's temp folder), so memory stays bounded whatever the file size.
    ``stop_timeout``: seconds that requests under way get to finish once
    the mount is told to stop (from the main thread); then the mount is
    detached without them and False is returned (True when all finished).
    """
    from persidict_fs.fuse import JOURNALS, StoreOperations  # imports mfusepy: only when serving

    journals = os.path.join(tempfile.gettempdir(), JOURNALS)
    for path in Journal.clean(journals, is_temp_name):
        log.warning("removed %s: a mount server died while committing it", path)
    d = open_store(store_or_url, serialization_format, **storage_options)
    # One thread serves a local folder 2-3x faster (no thread hand-offs, no
    # per-callback Python thread states); a remote store needs several, so
    # that one slow request does not stall every other.
    threads = not d.store.is_local if multithreaded is None else multithreaded
    fs, check = view_of(d)
    checks = fs.isolated_checks
    spill = {} if spill_threshold is None else {"spill_threshold": spill_threshold}
    ops = StoreOperations(
        fs,
        check_name=check,
        read_only=read_only,
        cache_ttl=cache_ttl,
        local=d.store.is_local,
        spill_dir=spill_dir,
        journal=Journal(journals),
        **spill,  # type: ignore[arg-type]
    )
    log.info("serving %s (%s) at %s", d.store.url, d.serialization_format, mountpoint)
    point = os.fspath(mountpoint)
    source = f"persidict:{d.store.url}"
    try:
        ended = run_stoppable(
            lambda: _run_fuse(ops, point, read_only, cache_ttl, source, threads),
            point,
            exit_loop=ops.exit_loop,
            is_mounted=lambda: mounted_fs(point) is not None,
            started=lambda: ops.started,
            stop_timeout=stop_timeout,
        )
    except RuntimeError as exc:
        # libfuse 3 returns the number of the signal that stopped it (SIGINT, SIGTERM)
        if not ops.started:
            raise MountError(f"could not mount at {mountpoint}: libfuse error {exc}") from None
        ended = True
    finally:
        # Stopped here, not by the interpreter's exit hook, which runs after libfuse's
        # threads and the loop's descriptors are gone (it failed there with EBADF).
        if checks is not None:
            checks.close()
    log.info("unmounted %s", mountpoint)
    return ended


def _run_fuse(
    ops, mountpoint, read_only: bool, cache_ttl: float, source: str, multithreaded: bool
) -> None:
    import mfusepy

    mfusepy.FUSE(
        ops,
        os.fspath(mountpoint),
        raw_fi=True,
        foreground=True,
        fsname=source.replace(",", "%2C"),  # shown by `mount` and `df`; commas split options
        subtype="persidict",
        ro=read_only,
        auto_cache=True,  # keep cached pages while size and mtime are unchanged
        attr_timeout=cache_ttl,
        entry_timeout=cache_ttl,
        nothreads=not multithreaded,
        # no hard_remove: libfuse renames a file removed while open to a hidden name
        # (which the server keeps in memory) so fstat of its descriptors still works
    )


class Mount:
    """A running mount; ``unmount()`` ends it. Also a context manager."""

    def __init__(self, process: subprocess.Popen, mountpoint: str, log_file: str | None) -> None:
        self.process = process
        self.mountpoint = mountpoint
        self.log_file = log_file

    def __enter__(self) -> Mount:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unmount()

    @property
    def mounted(self) -> bool:
        return self.process.poll() is None and mounted_fs(self.mountpoint) is not None

    def unmount(self, timeout: float = 30.0) -> None:
        """Unmount (SIGTERM to the server, as Ctrl-C would) and wait for it to exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        clean_dead_mount(self.mountpoint)  # if the server died without unmounting
        if self.process.returncode not in (0, -signal.SIGTERM):
            raise MountError(
                f"mount server for {self.mountpoint} exited with {self.process.returncode}"
                f"{_tail(self.log_file)}"
            )

    def __repr__(self) -> str:
        return f"Mount({self.mountpoint!r}, pid={self.process.pid})"


def mount(
    store_or_url: str | os.PathLike | PersiDict,
    mountpoint: str | os.PathLike,
    *,
    read_only: bool = False,
    cache_ttl: float = 1.0,
    foreground: bool = False,
    serialization_format: str | None = None,
    log_file: str | os.PathLike | None = None,
    log_level: str = "INFO",
    multithreaded: bool | None = None,
    spill_threshold: int | None = None,
    spill_dir: str | None = None,
    stop_timeout: float = STOP_TIMEOUT,
    timeout: float = 30.0,
    **storage_options: Any,
) -> Mount | None:
    """Show a store (a URL or a PersiDict) as a folder of per-key files at ``mountpoint``.

    Returns a :class:`Mount` once the folder is mounted (None with
    ``foreground=True``, which serves in this thread until unmounted).
    ``log_file`` receives the server's log (refused names, failed commits);
    by default it goes to this process's stderr. ``multithreaded`` defaults
    to False for a local folder (faster) and True for remote stores. A ``memory://`` dict cannot
    be mounted in the background: the server is another process. ``spill_threshold``,
    ``spill_dir`` and ``stop_timeout``: see :func:`serve`. A dead mount left at
    ``mountpoint`` by a killed server is unmounted first (logged); a live one is refused
    (MountError).

    >>> with mount("/data/store", "/mnt/store") as m:   # doctest: +SKIP
    ...     print(os.listdir("/mnt/store"))
    """
    options = dict(
        read_only=read_only,
        cache_ttl=cache_ttl,
        serialization_format=serialization_format,
        multithreaded=multithreaded,
        spill_threshold=spill_threshold,
        spill_dir=spill_dir,
        stop_timeout=stop_timeout,
        **storage_options,
    )
    mountpoint = os.fspath(mountpoint)
    clean_dead_mount(mountpoint)
    if mounted_fs(mountpoint) is not None:
        raise MountError(f"{mountpoint} is already a mount point: unmount it first")
    if foreground:
        serve(store_or_url, mountpoint, **options)
        return None
    if not os.path.isdir(mountpoint):
        raise MountError(f"mount point {mountpoint!r} is not a folder")
    url = store_or_url.store.url if isinstance(store_or_url, PersiDict) else os.fspath(store_or_url)
    if url.startswith("memory://"):
        raise MountError(
            f"cannot mount {url} in a server process: memory:// lives in this process only"
        )
    spec = pickle.dumps((store_or_url, mountpoint, options, log_level))
    log_path = os.fspath(log_file) if log_file is not None else None
    with open(log_path or os.devnull, "ab") as stream:
        process = subprocess.Popen(
            [sys.executable, "-c", "from persidict_fs.mount import _main; _main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=stream if log_path else None,  # None: the server logs to our stderr
            start_new_session=True,  # the terminal's Ctrl-C is for the caller, not the server
        )
    process.stdin.write(spec)  # type: ignore[union-attr]
    process.stdin.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    while mounted_fs(mountpoint) is None:
        if process.poll() is not None:
            raise MountError(f"could not mount at {mountpoint}{_tail(log_path)}")
        if time.monotonic() > deadline:
            Mount(process, mountpoint, log_path).unmount()
            raise MountError(f"mount at {mountpoint} not ready after {timeout} s")
        time.sleep(0.02)
    return Mount(process, mountpoint, log_path)


def mounted_fs(mountpoint: str | os.PathLike) -> str | None:
    """The type of the filesystem mounted at ``mountpoint`` (``fuse.persidict``...), or None.

    Read from ``/proc/self/mountinfo``, which lists a FUSE mount whose server
    died too (``os.path.ismount`` cannot stat it, so it says False).
    """
    path = os.fspath(mountpoint)
    parent, name = os.path.split(os.path.abspath(path))
    target = os.path.join(os.path.realpath(parent), name)  # no stat of a dead mount itself
    found = None
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
            if point == target:
                found = fields[fields.index("-") + 1]  # the last mount there is on top
    return found


def clean_dead_mount(mountpoint: str | os.PathLike) -> bool:
    """Lazily unmount a FUSE mount at ``mountpoint`` whose server is gone; True if one was."""
    fstype = mounted_fs(mountpoint)
    if fstype is None or not fstype.startswith("fuse"):
        return False
    try:
        os.stat(mountpoint)
        return False  # it answers: alive
    except OSError as exc:
        if exc.errno != errno.ENOTCONN:
            return False
    log.warning("unmounting the dead mount at %s (its server is gone)", mountpoint)
    done = subprocess.run(
        ["fusermount3", "-u", "-z", os.fspath(mountpoint)], capture_output=True, text=True
    )
    if done.returncode:
        raise MountError(f"could not unmount the dead mount at {mountpoint}: {done.stderr.strip()}")
    return True


def _tail(log_path: str | None) -> str:
    if not log_path or not os.path.exists(log_path):
        return ""
    with open(log_path, errors="replace") as f:
        lines = f.read().strip().splitlines()[-5:]
    return ": " + " | ".join(lines) if lines else ""


def _main() -> None:
    store_or_url, mountpoint, options, log_level = pickle.load(sys.stdin.buffer)
    logging.basicConfig(
        level=log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        ended = serve(store_or_url, mountpoint, **options)
    except Exception as exc:
        log.error("cannot serve %s at %s: %s", store_or_url, mountpoint, exc)
        sys.exit(1)
    if not ended:
        # threads of libfuse are still waiting on the store: leave them with the process
        logging.shutdown()
        os._exit(0)

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
import threading
import time
from collections.abc import Callable
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
    allow_other: bool = False,
    render: str | None = None,
    **storage_options: Any,
) -> bool:
    """Serve the store at ``mountpoint`` until unmounted (Ctrl-C, SIGTERM, SIGHUP, fusermount).

    ``spill_threshold``: bytes a file being written keeps in memory before
    it moves to an anonymous temp file in ``spill_dir`` (default: the
    system's temp folder), so memory stays bounded whatever the file size.
    ``stop_timeout``: seconds that requests under way get to finish once
    the mount is told to stop (from the main thread); then the mount is
    detached without them and False is returned (True when all finished).
    ``allow_other``: let every user of this machine use the mount (by default only
    the user who mounted it; other users than root need ``user_allow_other`` in
    ``/etc/fuse.conf``).
    ``render="json"``: show every value as a read-only JSON file
    (:mod:`persidict_fs.render`; the dict's format decides what is decoded).
    """
    from persidict_fs.fuse import JOURNALS, StoreOperations  # imports mfusepy: only when serving

    journals = os.path.join(tempfile.gettempdir(), JOURNALS)
    for path in Journal.clean(journals, is_temp_name):
        log.warning("removed %s: a mount server died while committing it", path)
    d = open_store(store_or_url, serialization_format, **storage_options)
    _refuse_mount_inside(d, mountpoint)
    if render is not None:
        from persidict_fs.render import rendered_as

        d, read_only = rendered_as(d, render), True
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
    # absolute: a relative one, looked up again after libfuse changed the folder, was not
    # found, so the first change of the mount table anywhere stopped the mount
    point = os.path.abspath(os.fspath(mountpoint))
    source = f"persidict:{d.store.url}"
    try:
        ended = run_stoppable(
            lambda: _run_fuse(ops, point, read_only, cache_ttl, source, threads, allow_other),
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


def _refuse_mount_inside(d: PersiDict, mountpoint: str | os.PathLike) -> None:
    """MountError if ``mountpoint`` is inside the local folder it would show: listing the
    store would go through the mount itself, and every ``ls`` would hang."""
    root = getattr(d.store, "root", None)
    if not d.store.is_local or root is None:
        return
    store, point = os.path.realpath(root), os.path.realpath(mountpoint)
    if os.path.commonpath([store, point]) == store:
        raise MountError(f"cannot mount {store} at {point}: the mount point is inside the store")


def _run_fuse(
    ops,
    mountpoint,
    read_only: bool,
    cache_ttl: float,
    source: str,
    multithreaded: bool,
    allow_other: bool,
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
        # no auto_cache: libfuse would keep pages while the sizes and times it saw are
        # unchanged, which misses commits; the server decides per open (fuse_pages)
        attr_timeout=cache_ttl,
        entry_timeout=cache_ttl,
        nothreads=not multithreaded,
        **({"allow_other": True} if allow_other else {}),
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
    allow_other: bool = False,
    render: str | None = None,
    **storage_options: Any,
) -> Mount | None:
    """Show a store (a URL or a PersiDict) as a folder of per-key files at ``mountpoint``.

    Returns a :class:`Mount` once the folder is mounted (None with
    ``foreground=True``, which serves in this thread until unmounted).
    ``log_file`` receives the server's log (refused names, failed commits);
    by default it goes to this process's stderr. ``multithreaded`` defaults
    to False for a local folder (faster) and True for remote stores. A ``memory://`` dict cannot
    be mounted in the background: the server is another process. ``spill_threshold``,
    ``spill_dir``, ``stop_timeout``, ``allow_other`` and ``render``: see :func:`serve`. A
    dead mount left at ``mountpoint`` by a killed server is unmounted first (logged); a
    live one is refused (MountError).

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
        allow_other=allow_other,
        render=render,
        **storage_options,
    )
    mountpoint = os.path.abspath(os.fspath(mountpoint))
    clean_dead_mount(mountpoint)
    if mounted_fs(mountpoint) is not None:
        raise MountError(f"{mountpoint} is already a mount point: unmount it first")
    # a server still stopping there would unmount the new mount on its way out
    wait_for_servers(mountpoint, timeout)
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
            # the mount point in argv (unused by _main) lets server_pids() find this server
            [sys.executable, "-c", _SERVER, _point(mountpoint)],
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


_SERVER = "from persidict_fs.mount import _main; _main()"


def _point(mountpoint: str | os.PathLike) -> str:
    """The absolute path of ``mountpoint`` as mountinfo shows it (no stat of the mount itself)."""
    parent, name = os.path.split(os.path.abspath(os.fspath(mountpoint)))
    return os.path.join(os.path.realpath(parent), name)


def server_pids(mountpoint: str | os.PathLike) -> list[int]:
    """Process ids of the background servers started by :func:`mount` for ``mountpoint``.

    A server lives on for a moment after an unmount; one that is still
    stopping must not meet a new mount at the same place.
    """
    target = _point(mountpoint)
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if argv[1:4] == [b"-c", _SERVER.encode(), os.fsencode(target)]:
            pids.append(int(entry.name))
    return pids


def wait_for_servers(mountpoint: str | os.PathLike, timeout: float = 30.0) -> None:
    """Wait until no server of ``mountpoint`` runs; MountError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while pids := server_pids(mountpoint):
        if time.monotonic() > deadline:
            raise MountError(f"the server of {mountpoint} (pid {pids[0]}) has not exited")
        time.sleep(0.02)


def mounted_fs(mountpoint: str | os.PathLike) -> str | None:
    """The type of the filesystem mounted at ``mountpoint`` (``fuse.persidict``...), or None.

    Read from ``/proc/self/mountinfo``, which lists a FUSE mount whose server
    died too (``os.path.ismount`` cannot stat it, so it says False).
    """
    target = _point(mountpoint)
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


# What libfuse writes straight to the C stderr and means nothing to a user: the unmount it
# tries on its way out of a mount already gone (fusermount -u), and the thread limit it
# clamps by itself.
_LIBFUSE_CHATTER = re.compile(
    rb"fuse: failed to unmount .*: Invalid argument|Ignoring invalid max threads value .*"
)


def quiet_libfuse() -> Callable[[], None]:
    """Pass what C code writes to fd 2 through a filter of libfuse's chatter.

    ``sys.stderr`` (Python's logging, configured after this) writes to the
    original stderr directly, so a log line is there the moment it is logged.
    Returns the function that restores both and waits until the filter has
    passed on every line written before.
    """
    keep = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    python_stderr = sys.stderr
    sys.stderr = open(keep, "w", buffering=1, closefd=False)  # noqa: SIM115 (closed in restore)

    def pump() -> None:
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if not _LIBFUSE_CHATTER.fullmatch(line.rstrip(b"\n")):
                    os.write(keep, line)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def restore() -> None:
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(keep, 2)  # closes the pipe's last write end: the pump reads to its end
        thread.join(5.0)

    return restore


def _main() -> None:
    store_or_url, mountpoint, options, log_level = pickle.load(sys.stdin.buffer)
    restore_stderr = quiet_libfuse()
    logging.basicConfig(
        level=log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        ended = serve(store_or_url, mountpoint, **options)
    except Exception as exc:
        log.error("cannot serve %s at %s: %s", store_or_url, mountpoint, exc)
        restore_stderr()
        sys.exit(1)
    restore_stderr()
    if not ended:
        # threads of libfuse are still waiting on the store: leave them with the process
        logging.shutdown()
        os._exit(0)

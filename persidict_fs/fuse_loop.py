"""Run the FUSE loop so that it always stops: on SIGINT, SIGTERM, SIGHUP or an unmount.

libfuse ends its loop on those signals only once every request under way
has been answered, so a request blocked on a silent store would hold the
mount and its server for as long as the store waits. Here the loop runs in
a thread of its own while the calling (main) thread waits for a signal, for
the mount to leave ``/proc/self/mountinfo`` (``fusermount3 -u``) or for the
loop to end. On a stop it asks libfuse to end the loop, as libfuse's own
signal handler does; requests under way get ``stop_timeout`` seconds to be
answered, after which the mount is detached and they are left behind (their
callers get an error from the kernel once the server has exited).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_TIMEOUT = 10.0
"""Default seconds that requests under way get to finish once the mount is told to stop."""


def run_stoppable(
    loop: Callable[[], None],
    mountpoint: str,
    *,
    exit_loop: Callable[[], None],
    is_mounted: Callable[[], bool],
    started: Callable[[], bool],
    stop_timeout: float = STOP_TIMEOUT,
) -> bool:
    """Run ``loop`` (libfuse's) until it ends or is stopped; False if requests were left.

    ``exit_loop`` asks libfuse to end the loop (callable from any thread),
    ``is_mounted`` says if ``mountpoint`` is still mounted, ``started``
    if the kernel has the mount yet. Outside the main thread no signal can
    be caught here: the loop runs in this thread and libfuse's own handlers act.
    """
    if threading.current_thread() is not threading.main_thread():
        loop()
        return True
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    failure: list[BaseException] = []
    stops: list[str] = []

    def serve() -> None:
        try:
            loop()
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)
        finally:
            _poke(wake_w)

    def on_signal(signum: int, frame: object) -> None:
        stops.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    previous_fd = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    thread = threading.Thread(target=serve, name="fuse-loop", daemon=True)
    try:
        with open("/proc/self/mountinfo", "rb") as mounts:
            poller = select.poll()
            poller.register(wake_r, select.POLLIN)
            poller.register(mounts, select.POLLPRI)  # any change of the mount table
            thread.start()
            while thread.is_alive() and not stops:
                poller.poll()
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                if started() and not is_mounted():
                    stops.append("unmounted")
            ended = True
            if stops and thread.is_alive():
                ended = _stop(thread, stops[0], mountpoint, exit_loop, is_mounted, stop_timeout)
    finally:
        signal.set_wakeup_fd(previous_fd)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(wake_r)
        os.close(wake_w)
    if failure:
        raise failure[0]
    return ended


def _stop(
    thread: threading.Thread,
    why: str,
    mountpoint: str,
    exit_loop: Callable[[], None],
    is_mounted: Callable[[], bool],
    stop_timeout: float,
) -> bool:
    log.info("stopping the mount at %s (%s)", mountpoint, why)
    exit_loop()
    # libfuse's loop waits on a semaphore that only a signal interrupts; ours is harmless
    with contextlib.suppress(ProcessLookupError):
        signal.pthread_kill(thread.ident, signal.SIGTERM)  # type: ignore[arg-type]
    thread.join(stop_timeout)
    if not thread.is_alive():
        return True
    log.warning(
        "requests to the store still under way after %g s (stop_timeout): "
        "unmounting %s without them",
        stop_timeout,
        mountpoint,
    )
    if is_mounted():
        subprocess.run(["fusermount3", "-u", "-z", mountpoint], capture_output=True, check=False)
    return False


def _poke(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, b"\0")

"""Open paths under a folder without following any symlink below it.

A store's root is trusted (it is resolved once, symlinks and all); nothing
below it is: a folder someone replaced by a symlink to ``/etc`` must not let
a read, write or delete reach outside the root. On Linux 5.6+ one
``openat2(RESOLVE_NO_SYMLINKS)`` system call resolves a whole path that way;
elsewhere each folder on the path is opened with ``O_NOFOLLOW`` in turn.
Either way a symlink anywhere on the path fails with ELOOP.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

O_PATH = getattr(os, "O_PATH", 0) or os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
"""Flags to open a path only to fstat it (no read permission needed where O_PATH exists)."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
_RESOLVE = 0x04  # RESOLVE_NO_SYMLINKS
_FS_ENCODING = sys.getfilesystemencoding()
_SYS_OPENAT2 = 437  # the same number on every Linux architecture
_AT_FDCWD = -100


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _load_openat2():
    if os.uname().sysname != "Linux":
        return None
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    syscall.argtypes = [
        ctypes.c_long,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
    ]
    return syscall


_syscall = _load_openat2()
_hows: dict[object, tuple[_OpenHow, int]] = {}  # kept alive: their addresses are passed


def _how(flags: int, mode: int) -> int:
    """The address of an ``open_how`` for ``flags`` (and ``mode`` when creating)."""
    key: object = (flags, mode) if flags & os.O_CREAT else flags
    how = _hows.get(key)
    if how is None:
        # openat2 refuses a mode it would not use
        struct = _OpenHow(flags | os.O_CLOEXEC, mode if flags & os.O_CREAT else 0, _RESOLVE)
        how = _hows.setdefault(key, (struct, ctypes.addressof(struct)))
    return how[1]


def _open_stepwise(root: str, rel: str, flags: int, mode: int) -> int:
    *folders, last = rel.split("/")
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in folders:
            inner = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(last, flags | _NOFOLLOW, mode, dir_fd=fd)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, f"{root}/{rel}") from None
    finally:
        os.close(fd)


def open_beneath(root: str, rel: str, flags: int, mode: int = 0o644) -> int:
    """An fd of ``root/rel`` opened with ``flags``; ELOOP if a symlink is on ``rel``.

    ``root`` is a resolved absolute path (no symlinks in it); ``rel`` is
    relative and ``/``-separated, '' for ``root`` itself. Errors name the path.
    """
    global _syscall
    if "/" in rel:
        full = f"{root}/{rel}"
        if _syscall is not None:
            fd = _syscall(
                _SYS_OPENAT2,
                _AT_FDCWD,
                full.encode(_FS_ENCODING, "surrogateescape"),
                _how(flags, mode),
                24,
            )
            if fd >= 0:
                return fd
            err = ctypes.get_errno()
            if err not in (errno.ENOSYS, errno.EPERM):  # EPERM: a seccomp filter
                raise OSError(err, os.strerror(err), full)
            _syscall = None  # this kernel has no openat2
        return _open_stepwise(root, rel, flags, mode)
    if rel:  # nothing below the root but the name itself
        return os.open(f"{root}/{rel}", flags | _NOFOLLOW, mode)
    return os.open(root, flags | os.O_CLOEXEC, mode)

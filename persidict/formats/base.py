"""The Format type and the registry of formats by name.

A :class:`Format` is a name, a file extension and a pair of functions; it
may stream big values straight to and from a file. Pure: no I/O beyond the
file objects handed in.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, BinaryIO


class FormatError(ValueError):
    """A value the format cannot hold, or bytes it cannot decode."""


_PRESENT: set[str] = set()  # modules already found importable


def require(modules: tuple[str, ...], extra: str, what: str) -> None:
    """ImportError naming the extra to install if one of ``modules`` cannot be imported."""
    for module in modules:
        if module in _PRESENT:
            continue
        try:
            importlib.import_module(module)  # the format imports it next anyway
        except ImportError as exc:
            raise ImportError(
                f"{what} needs {module}, which is not installed; it is part of the "
                f'{extra!r} extra: pip install "persidict[{extra}]" '
                f'(from a clone: pip install -e ".[{extra}]")'
            ) from exc
        _PRESENT.add(module)


@dataclass(frozen=True)
class Format:
    """A named value <-> bytes codec with the file extension it uses.

    ``check_bytes`` validates bytes written directly (by the filesystem
    view) without building the value where a cheaper check exists; it never
    runs stored code. ``dump_to``/``load_from`` write a value into, and read
    it from, a binary file without an intermediate copy of the bytes (big
    values). ``requires`` names the modules the format imports when used, and
    ``extra`` the optional dependency group of persidict that installs them:
    a format is known by name without them, and says what to install when
    it is first used. ``runs_stored_code`` is True where decoding can run
    code named by the stored bytes (pickle, trusted json): tools that only
    move bytes never decode such a format unless the user says so.
    """

    name: str
    extension: str
    dumps: Callable[[Any], bytes]
    loads: Callable[[bytes], Any]
    check_bytes: Callable[[bytes], None] | None = None
    dump_to: Callable[[Any, BinaryIO], None] | None = None
    load_from: Callable[[BinaryIO], Any] | None = None
    requires: tuple[str, ...] = ()
    extra: str = ""
    runs_stored_code: bool = False

    @property
    def streams(self) -> bool:
        """True where :meth:`dump`/:meth:`load` beat :meth:`encode`/:meth:`decode`."""
        return self.dump_to is not None

    def _require(self) -> None:
        if self.requires:
            require(self.requires, self.extra, f"format {self.name!r}")

    def encode(self, value: Any) -> bytes:
        """Bytes for ``value``; raises :class:`FormatError` naming the problem."""
        self._require()
        try:
            return self.dumps(value)
        except (FormatError, MemoryError):
            raise
        except Exception as exc:
            raise self._cannot_store(value, exc) from exc

    def decode(self, data: bytes, where: str = "") -> Any:
        """Value of ``data``; raises :class:`FormatError` naming ``where``."""
        self._require()
        try:
            return self.loads(data)
        except MemoryError:
            raise
        except Exception as exc:
            raise self._corrupt(where, exc) from exc

    def dump(self, value: Any, f: BinaryIO) -> None:
        """Write the encoding of ``value`` into the binary file ``f``.

        FormatError if the value cannot be stored; the file's own OSError as is.
        """
        if self.dump_to is None:
            f.write(self.encode(value))
            return
        self._require()
        try:
            self.dump_to(value, f)
        except (FormatError, OSError, MemoryError):
            raise
        except Exception as exc:
            raise self._cannot_store(value, exc) from exc

    def load(self, f: BinaryIO, where: str = "") -> Any:
        """The value stored in the binary file ``f``; FormatError naming ``where``."""
        if self.load_from is None:
            return self.decode(f.read(), where)
        self._require()
        try:
            return self.load_from(f)
        except (OSError, MemoryError, ImportError):
            raise
        except Exception as exc:
            raise self._corrupt(where, exc) from exc

    def validate(self, data: bytes, where: str = "") -> None:
        """Raise :class:`FormatError` if ``data`` is not valid for this format."""
        if self.check_bytes is None:
            self.decode(data, where)
            return
        self._require()
        try:
            self.check_bytes(data)
        except Exception as exc:
            place = f" for {where}" if where else ""
            raise FormatError(f"not valid {self.name!r} data{place}: {exc}") from exc

    def _cannot_store(self, value: Any, exc: Exception) -> FormatError:
        return FormatError(
            f"format {self.name!r} cannot store a value of type {type(value).__name__}: {exc}"
        )

    def _corrupt(self, where: str, exc: Exception) -> Exception:
        place = f" in {where}" if where else ""
        if isinstance(exc, ImportError):  # an extra needed to read this file
            return ImportError(f"{exc}{place}")
        if isinstance(exc, FormatError):  # already says what is wrong (a refusal)
            return FormatError(f"{self.name!r} data{place}: {exc}")
        return FormatError(f"corrupt {self.name!r} data{place}: {type(exc).__name__}: {exc}")

    def __reduce__(self) -> tuple[Any, ...]:
        # A registered format travels by name; any other by value (its functions
        # by reference, so they must be importable module-level callables).
        if _REGISTRY.get(self.name) is self:
            return (get_format, (self.name,))
        return (type(self), tuple(getattr(self, f.name) for f in fields(self)))


_REGISTRY: dict[str, Format] = {}
_ALIASES = {"pickle": "pkl", "raw": "bytes", "": "bytes", "text": "txt"}


def register_format(fmt: Format, *, replace: bool = False) -> Format:
    """Add ``fmt`` to the registry so dicts can name it."""
    if fmt.name in _REGISTRY and not replace:
        raise ValueError(f"format {fmt.name!r} is already registered")
    _REGISTRY[fmt.name] = fmt
    return fmt


def get_format(name: str | Format) -> Format:
    """The registered format called ``name`` (or ``name`` itself if a Format)."""
    if isinstance(name, Format):
        return name
    if not isinstance(name, str):
        raise TypeError(f"a format is named by a str, not {type(name).__name__}")
    try:
        return _REGISTRY[_ALIASES.get(name, name)]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown serialization format {name!r}; known formats: {known}") from None


def format_names() -> list[str]:
    """Names of the registered formats (all known, whether or not their extras are installed)."""
    return sorted(_REGISTRY)

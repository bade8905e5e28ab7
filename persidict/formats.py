"""Value formats: how a Python value becomes the bytes of one file, and back.

A :class:`Format` is a name, a file extension and a pair of functions. The
registry holds ``pkl`` (default), ``json``, ``txt``, ``bytes`` and, when
numpy/pandas are installed, ``npy`` and ``parquet``; add your own with
:func:`register_format`. This module is pure: no I/O.
"""

from __future__ import annotations

import functools
import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO


class FormatError(ValueError):
    """A value the format cannot hold, or bytes it cannot decode."""


@dataclass(frozen=True)
class Format:
    """A named value <-> bytes codec with the file extension it uses.

    ``check_bytes`` validates bytes written directly (by the filesystem
    view) without building the value where a cheaper check exists.
    ``dump_to``/``load_from`` write a value into, and read it from, a binary
    file without an intermediate copy of the bytes (big values).
    """

    name: str
    extension: str
    dumps: Callable[[Any], bytes]
    loads: Callable[[bytes], Any]
    check_bytes: Callable[[bytes], None] | None = None
    dump_to: Callable[[Any, BinaryIO], None] | None = None
    load_from: Callable[[BinaryIO], Any] | None = None

    @property
    def streams(self) -> bool:
        """True where :meth:`dump`/:meth:`load` beat :meth:`encode`/:meth:`decode`."""
        return self.dump_to is not None

    def encode(self, value: Any) -> bytes:
        """Bytes for ``value``; raises :class:`FormatError` naming the problem."""
        try:
            return self.dumps(value)
        except FormatError:
            raise
        except Exception as exc:
            raise FormatError(
                f"format {self.name!r} cannot store a value of type {type(value).__name__}: {exc}"
            ) from exc

    def decode(self, data: bytes, where: str = "") -> Any:
        """Value of ``data``; raises :class:`FormatError` naming ``where``."""
        try:
            return self.loads(data)
        except Exception as exc:
            place = f" in {where}" if where else ""
            raise FormatError(
                f"corrupt {self.name!r} data{place}: {type(exc).__name__}: {exc}"
            ) from exc

    def dump(self, value: Any, f: BinaryIO) -> None:
        """Write the encoding of ``value`` into the binary file ``f``.

        FormatError if the value cannot be stored; the file's own OSError as is.
        """
        if self.dump_to is None:
            f.write(self.encode(value))
            return
        try:
            self.dump_to(value, f)
        except (FormatError, OSError, MemoryError):
            raise
        except Exception as exc:
            raise FormatError(
                f"format {self.name!r} cannot store a value of type {type(value).__name__}: {exc}"
            ) from exc

    def load(self, f: BinaryIO, where: str = "") -> Any:
        """The value stored in the binary file ``f``; FormatError naming ``where``."""
        if self.load_from is None:
            return self.decode(f.read(), where)
        try:
            return self.load_from(f)
        except (OSError, MemoryError):
            raise
        except Exception as exc:
            place = f" in {where}" if where else ""
            raise FormatError(
                f"corrupt {self.name!r} data{place}: {type(exc).__name__}: {exc}"
            ) from exc

    def validate(self, data: bytes, where: str = "") -> None:
        """Raise :class:`FormatError` if ``data`` is not valid for this format."""
        if self.check_bytes is None:
            self.decode(data, where)
            return
        try:
            self.check_bytes(data)
        except Exception as exc:
            place = f" for {where}" if where else ""
            raise FormatError(f"not valid {self.name!r} data{place}: {exc}") from exc


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
    key = _ALIASES.get(name, name)
    _load_optional(key)
    try:
        return _REGISTRY[key]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown serialization format {name!r}; known formats: {known}") from None


def format_names() -> list[str]:
    """Names of the registered formats."""
    return sorted(_REGISTRY)


def _pickle_dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=5)


def _pickle_dump(value: Any, f: BinaryIO) -> None:
    # Protocol 5 hands big buffers (numpy arrays) to f.write without copying them.
    pickle.dump(value, f, protocol=5)


def _pickle_check(data: bytes) -> None:
    # Walks the opcodes without running them: loading untrusted pickle runs code.
    import pickletools

    for _ in pickletools.genops(data):
        pass


@functools.cache
def _strict_pickler_class() -> type:
    import jsonpickle
    from jsonpickle import util

    class StrictPickler(jsonpickle.Pickler):
        """jsonpickle stores None for, or silently drops, what it cannot encode: refuse instead."""

        def _pickle_warning(self, obj: Any) -> None:
            raise FormatError(f"format 'json' cannot store {type(obj).__name__} value {obj!r:.80}")

    def refusing_unencodable(flatten_pair: Callable) -> Callable:
        def checked(self: Any, k: Any, v: Any, data: dict) -> Any:
            if util.is_function(v) and not util.is_module_function(v):
                self._pickle_warning(v)
            return flatten_pair(self, k, v, data)

        return checked

    for name in (
        "_flatten_key_value_pair",
        "_flatten_string_key_value_pair",
        "_flatten_non_string_key_value_pair",
    ):
        setattr(StrictPickler, name, refusing_unencodable(getattr(jsonpickle.Pickler, name)))
    return StrictPickler


def _json_dumps(value: Any) -> bytes:
    import jsonpickle

    pickler = _strict_pickler_class()(keys=True, warn=True)
    text = jsonpickle.encode(value, indent=4, keys=True, context=pickler)
    return text.encode("utf-8")


def _json_loads(data: bytes) -> Any:
    import jsonpickle

    return jsonpickle.decode(data.decode("utf-8"), keys=True)


def _json_check(data: bytes) -> None:
    import json

    json.loads(data.decode("utf-8"))


def _txt_dumps(value: Any) -> bytes:
    if not isinstance(value, str):
        raise FormatError(f"format 'txt' stores str values only, not {type(value).__name__}")
    return value.encode("utf-8")


def _bytes_dumps(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise FormatError(
            f"format 'bytes' stores bytes-like values only, not {type(value).__name__}"
        )
    return bytes(value)


def _npy_dumps(value: Any) -> bytes:
    import numpy as np

    if not isinstance(value, np.ndarray):
        raise FormatError(f"format 'npy' stores numpy arrays only, not {type(value).__name__}")
    buf = io.BytesIO()
    np.save(buf, value, allow_pickle=False)
    return buf.getvalue()


def _npy_dump(value: Any, f: BinaryIO) -> None:
    import numpy as np

    if not isinstance(value, np.ndarray):
        raise FormatError(f"format 'npy' stores numpy arrays only, not {type(value).__name__}")
    np.save(f, value, allow_pickle=False)


def _npy_load(f: BinaryIO) -> Any:
    import numpy as np

    # From a real file numpy reads the data straight into the array (np.fromfile).
    return np.load(f, allow_pickle=False)


def _npy_loads(data: bytes) -> Any:
    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=False)


def _parquet_dumps(value: Any) -> bytes:
    import pandas as pd

    if not isinstance(value, pd.DataFrame):
        raise FormatError(
            f"format 'parquet' stores pandas DataFrames only, not {type(value).__name__}"
        )
    buf = io.BytesIO()
    value.to_parquet(buf)
    return buf.getvalue()


def _parquet_dump(value: Any, f: BinaryIO) -> None:
    import pandas as pd

    if not isinstance(value, pd.DataFrame):
        raise FormatError(
            f"format 'parquet' stores pandas DataFrames only, not {type(value).__name__}"
        )
    value.to_parquet(f)


def _parquet_load(f: BinaryIO) -> Any:
    import pandas as pd

    return pd.read_parquet(f)


def _parquet_loads(data: bytes) -> Any:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))


def _load_optional(name: str) -> None:
    """Register numpy/pandas formats on first use, if their packages exist."""
    if name in _REGISTRY:
        return
    if name == "npy":
        import numpy  # noqa: F401  (fails clearly when the extra is missing)

        register_format(Format("npy", ".npy", _npy_dumps, _npy_loads, None, _npy_dump, _npy_load))
    elif name == "parquet":
        import pandas  # noqa: F401

        register_format(
            Format(
                "parquet",
                ".parquet",
                _parquet_dumps,
                _parquet_loads,
                None,
                _parquet_dump,
                _parquet_load,
            )
        )


register_format(
    Format("pkl", ".pkl", _pickle_dumps, pickle.loads, _pickle_check, _pickle_dump, pickle.load)
)
register_format(Format("json", ".json", _json_dumps, _json_loads, _json_check))
register_format(
    Format("txt", ".txt", _txt_dumps, lambda b: b.decode("utf-8"), lambda b: b.decode("utf-8"))
)
register_format(Format("bytes", "", _bytes_dumps, bytes, lambda b: None))

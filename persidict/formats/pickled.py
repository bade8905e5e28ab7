"""The pkl format: pickle protocol 5; reads the lz4-compressed pickles of persidict 0.309.0.

Unpickling runs code by design: it is for stores you trust. The byte check
of the filesystem view walks the opcodes without running them.
"""

from __future__ import annotations

import pickle
from typing import Any, BinaryIO

from persidict.formats.base import FormatError, require

# persidict 0.309.0 wrote every pkl value with joblib.dump(compress="lz4"): an
# lz4 frame (this magic) around a joblib pickle, whose numpy arrays only
# joblib can read back.
LZ4_MAGIC = b"\x04\x22\x4d\x18"
_UPSTREAM = ("joblib", "lz4")


def dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=5)


def dump(value: Any, f: BinaryIO) -> None:
    # Protocol 5 hands big buffers (numpy arrays) to f.write without copying them.
    pickle.dump(value, f, protocol=5)


def loads(data: bytes) -> Any:
    if data[:4] == LZ4_MAGIC:
        import io

        return _load_upstream(io.BytesIO(data))
    return pickle.loads(data)


def load(f: BinaryIO) -> Any:
    # From a real file, pickle reads big buffers straight into place (readinto).
    start = f.tell()
    head = f.read(4)
    f.seek(start)
    if head == LZ4_MAGIC:
        return _load_upstream(f)
    return pickle.load(f)


def _load_upstream(f: BinaryIO) -> Any:
    require(_UPSTREAM, "lz4", "reading a pkl value written by persidict 0.309.0 (lz4)")
    import joblib

    return joblib.load(f)


def data_loads(data: bytes) -> Any:
    """The value of a pickle built from plain data types only: nothing it names runs.

    For tools that decode stores they do not trust (``persidict get`` without
    ``--trust``); a pickle naming anything else is a FormatError naming it.
    """
    from persidict.safe_pickle import UnsafePickleError, plain_loads

    if data[:4] == LZ4_MAGIC:
        raise FormatError(
            "refused to load a persidict 0.309.0 pickle (joblib, lz4) as data only: "
            "joblib runs the code it names"
        )
    try:
        return plain_loads(data)
    except UnsafePickleError as exc:
        raise FormatError(str(exc)) from None


def check(data: bytes) -> None:
    if data[:4] == LZ4_MAGIC:
        return  # an upstream value; its frame is checked when read
    # Walks the opcodes without running them: loading untrusted pickle runs code.
    import pickletools

    for _ in pickletools.genops(data):
        pass

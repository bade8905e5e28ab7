"""S3 stores sent to worker processes: one store per process, no secrets in pickles.

A pickled S3Store is its address and options. Unpickling looks the store up
in a per-process table keyed on bucket, prefix and options, so a dict passed
to every task of a Dask, Ray or process-pool worker builds its s3fs client
once per process, not once per task (which took 0.2-0.8 s and leaked memory).

``key``, ``secret`` and ``token`` given as arguments are left out of the
pickle (only a digest travels, so that a process that already holds the
store with those credentials finds it again). Workers take credentials from
their environment or credential files, as boto does; ``ship_credentials=True``
puts them into pickles on purpose.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

SECRETS = ("key", "secret", "token", "aws_access_key_id", "aws_secret_access_key")
_KEEP = 64  # stores kept per process (most recently unpickled)
_stores: dict[tuple, Any] = {}
_lock = threading.Lock()


def _frozen(value: Any) -> Any:
    """A hashable stand-in for nested options (dicts, lists)."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set)):
        return tuple(_frozen(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _digest(options: dict[str, Any]) -> str:
    secrets = repr([(k, options.get(k)) for k in SECRETS if options.get(k) is not None])
    return hashlib.sha256(secrets.encode()).hexdigest()[:32]


def _identity(bucket: str, prefix: str, public: dict[str, Any], digest: str) -> tuple:
    return (bucket, prefix, _frozen(public), digest)


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], str]:
    public = {k: v for k, v in options.items() if k not in SECRETS}
    return public, _digest(options)


def remember(store: Any) -> None:
    """Register ``store`` as this process's store for its address and options."""
    public, digest = _split(store.storage_options)
    with _lock:
        key = _identity(store.bucket, store.prefix, public, digest)
        _stores.pop(key, None)
        _stores[key] = store
        while len(_stores) > _KEEP:
            del _stores[next(iter(_stores))]


def reduce_store(store: Any) -> tuple:
    """``__reduce__`` of an S3Store: its address and options, secrets only on opt-in."""
    options = store.storage_options
    if options.get("ship_credentials"):
        return (_rebuild, (store.bucket, store.prefix, dict(options), ""))
    public, digest = _split(options)
    return (_rebuild, (store.bucket, store.prefix, public, digest))


def _rebuild(bucket: str, prefix: str, options: dict[str, Any], digest: str) -> Any:
    from persidict.storage.s3 import S3Store

    public, own_digest = _split(options)
    key = _identity(bucket, prefix, public, digest or own_digest)
    with _lock:
        store = _stores.get(key)
    if store is None:
        store = S3Store(bucket, prefix, **options)
        with _lock:
            store = _stores.setdefault(key, store)
    return store

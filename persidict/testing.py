"""Helpers for tests, demos and benchmarks: a local S3 server, and an S3 request counter.

Needs the ``dev`` extra (moto[server]).
"""

from __future__ import annotations

import logging
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from fsspec.asyn import sync

from persidict.storage.s3 import S3Store


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_server() -> Iterator[str]:
    """A real S3 API (moto's threaded server) on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # it logs every request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextmanager
def count_s3_requests(store: S3Store) -> Iterator[Counter]:
    """Count the HTTP requests ``store`` sends, by S3 operation (``GetObject``, ...).

    The once-per-process probe of the server's conditional writes is made
    first, so that the counts are those of the operations themselves.
    """
    store.check_conditional_writes()
    client = sync(store.fs.loop, store._client)
    sent: Counter = Counter()

    def count(event_name: str, **kwargs: object) -> None:
        sent[event_name.rsplit(".", 1)[-1]] += 1

    client.meta.events.register("before-send.s3", count)
    try:
        yield sent
    finally:
        client.meta.events.unregister("before-send.s3", count)

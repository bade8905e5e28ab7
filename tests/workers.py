"""Process bodies for the multi-process tests (importable under the 'spawn' start method)."""

from __future__ import annotations

import hashlib
import time

from persidict.storage.base import PreconditionFailed


def payload(writer: int, seq: int) -> dict:
    """A value whose parts check each other, sized 1-64 KiB so a torn write would show."""
    size = 1024 * (1 + (writer * 7 + seq) % 64)
    body = hashlib.sha256(f"{writer}-{seq}".encode()).digest() * (size // 32)
    return {"writer": writer, "seq": seq, "body": body, "digest": hashlib.sha256(body).hexdigest()}


def is_whole(value: dict) -> bool:
    return (
        hashlib.sha256(value["body"]).hexdigest() == value["digest"]
        and value["body"] == payload(value["writer"], value["seq"])["body"]
    )


def overwrite(d, writer: int, keys: list[str], seconds: float) -> int:
    """Overwrite ``keys`` round-robin for ``seconds`` (and at least 3 rounds).

    Returns the last sequence number written.
    """
    seq = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or seq < 3 * len(keys):
        d[keys[seq % len(keys)]] = payload(writer, seq)
        seq += 1
    return seq - 1


def read_and_check(d, keys: list[str], seconds: float) -> tuple[int, list[str]]:
    """Read ``keys`` for ``seconds``; returns (reads, problems seen)."""
    reads, problems = 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key in keys:
            try:
                value = d[key]
            except KeyError:
                continue  # not written yet
            except Exception as exc:
                problems.append(f"{key}: {type(exc).__name__}: {exc}")
                continue
            reads += 1
            if not is_whole(value):
                problems.append(f"{key}: torn value from writer {value['writer']}")
    return reads, problems


def insert_if_absent(d, keys: list[str], racer: int) -> list[str]:
    """setdefault every key with ``racer``'s id; returns the keys this racer won.

    A racer id, not the process id: a pool may hand two racers to one process.
    """
    return [k for k in keys if d.setdefault(k, racer) == racer]


def square(args) -> int:
    d, i = args
    d["sq", str(i)] = i * i
    return i


BIG_REPEATS = 8 * 1024 * 1024 // 32


def write_forever(d, key: str) -> None:
    """Overwrite ``key`` with 8 MiB values (a 32-byte digest repeated) until killed."""
    seq = 0
    while True:
        d[key] = hashlib.sha256(str(seq).encode()).digest() * BIG_REPEATS
        seq += 1


def rss_mb() -> float:
    """This process's resident set size (VmRSS) in MB; imports nothing (a fresh baseline)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def cas_increment(store, key: str, times: int) -> None:
    """Add 1 to the integer stored at ``key``, ``times`` times, by compare-and-swap on its ETag."""
    for _ in range(times):
        while True:
            data, etag = store.read_with_etag(key)
            try:
                store.write_if(key, str(int(data) + 1).encode(), etag)
                break
            except PreconditionFailed:
                continue

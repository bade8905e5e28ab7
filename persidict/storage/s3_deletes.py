"""Batch deletes on S3: DeleteObjects, up to 1,000 keys a request, never resent blindly.

A DeleteObjects whose reply is lost (a reset, a timeout, a 5xx) may have
deleted some or all of its keys. It is resent only for keys a read-back
(HEAD) shows still at the version the caller saw before the delete (``S3Store``
HEADs each key first when it must say which were there); a key now absent
counts as deleted; any other key's outcome is unknown, and its result is
:class:`OutcomeUnknownError` naming the keys.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from persidict.errors import OutcomeUnknownError
from persidict.storage import s3_faults as faults
from persidict.storage.s3_faults import S3Error, Version
from persidict.storage.s3_requests import S3Requests

BATCH = 1000
"""S3's limit of keys in one DeleteObjects."""
_NAMED = 5  # keys named in an error's message (all are in its ``key``)

Outcomes = dict[str, BaseException | None]
"""Per path: None (deleted) or the error."""


async def delete_objects(requests: S3Requests, before: dict[str, Version | None]) -> Outcomes:
    """Delete the paths of ``before`` (at most BATCH) by DeleteObjects; per path the outcome.

    ``before`` gives the version each path had before the delete (None: not
    known), which tells a read-back after a lost reply what "not deleted" looks like.
    """
    out: Outcomes = {}
    pending = dict(before)
    start = time.monotonic()
    for attempt in itertools.count():
        objects = [{"Key": requests.key(p)} for p in pending]
        try:
            resp = await requests.attempt(
                "delete_objects", Delete={"Objects": objects, "Quiet": True}
            )
        except Exception as exc:
            unknown = faults.unknown_outcome(exc)
            if unknown:
                pending = await _read_back(requests, pending, out, exc)
            if pending and not requests.may_retry(exc, attempt, start):
                first = next(iter(pending))
                error = (
                    unknown_error(requests, list(pending), exc)
                    if unknown
                    else requests.error(exc, first, "delete_objects")
                )
                out.update(dict.fromkeys(pending, error))
                return out
            if not pending:
                return out
            await asyncio.sleep(faults.pause(attempt, exc))
            continue
        failed = {e.get("Key"): e for e in resp.get("Errors", ())}
        for path in pending:
            e = failed.get(requests.key(path))
            out[path] = None if e is None else _refused(requests, path, e)
        return out
    raise AssertionError("unreachable")


async def _read_back(
    requests: S3Requests, pending: dict[str, Version | None], out: Outcomes, cause: BaseException
) -> dict[str, Version | None]:
    """Settle a lost DeleteObjects by a HEAD per key: the keys to send again.

    Absent: deleted. At the version seen before: not deleted (yet), sent
    again. Anything else: unknown (``out`` gets the error).
    """

    async def now(path: str) -> Version | BaseException | None:
        try:
            resp = await requests.request("head_object", path, Key=requests.key(path))
        except FileNotFoundError:
            return None
        except Exception as exc:  # cannot look: the outcome stays unknown
            return exc
        return Version.of(resp)

    seen = await asyncio.gather(*(now(p) for p in pending))
    again: dict[str, Version | None] = {}
    unknown: list[str] = []
    for (path, was), is_now in zip(pending.items(), seen, strict=True):
        if is_now is None:
            out[path] = None
        elif was is not None and is_now == was:
            again[path] = was
        else:
            unknown.append(path)
    if unknown:
        out.update(dict.fromkeys(unknown, unknown_error(requests, unknown, cause)))
    return again


def unknown_error(
    requests: S3Requests, paths: list[str], cause: BaseException
) -> OutcomeUnknownError:
    """The error of keys a DeleteObjects may or may not have deleted (all in its ``key``)."""
    shown = ", ".join(requests.where(p) for p in paths[:_NAMED])
    more = f" and {len(paths) - _NAMED} more" if len(paths) > _NAMED else ""
    return OutcomeUnknownError(
        f"S3 DeleteObjects of {shown}{more}: the reply was lost and what is stored now cannot "
        f"tell whether it deleted them ({type(cause).__name__}: {cause}); read the keys to "
        "see what is stored",
        backend="s3",
        operation="DeleteObjects",
        key=tuple(paths),
    )


def _refused(requests: S3Requests, path: str, e: dict) -> S3Error:
    return S3Error(
        f"S3 could not delete {requests.where(path)}: {e.get('Code')} {e.get('Message')}",
        code=str(e.get("Code", "")),
        operation="DeleteObjects",
    )

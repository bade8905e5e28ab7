"""aiohttp's silent resend of a request on a broken keep-alive connection, turned off.

aiohttp resends "idempotent" methods (PUT, DELETE, ...) once when a reused
connection breaks (RFC 9112 9.3.1). A conditional PUT or DELETE is not
idempotent: a resend of one that was applied reports the wrong outcome. The
stores decide what to resend. The switch is a private attribute of
``aiohttp.ClientSession``; this module is its one user, and fails at import
if aiohttp no longer has it.
"""

from __future__ import annotations

import aiohttp

if "_retry_connection" not in getattr(aiohttp.ClientSession, "ATTRS", ()):
    raise ImportError(
        f"aiohttp {aiohttp.__version__} has no ClientSession._retry_connection: persidict "
        "cannot stop its silent resends of conditional requests"
    )


def without_resend(session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """``session``, which from now on never resends a request by itself."""
    session._retry_connection = False
    return session

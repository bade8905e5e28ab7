"""Shared pieces of the S3 fault tests: the fault proxy in front of moto, and request filters.

A test module gets the ``proxy`` fixture by importing ``proxy_fixture`` (one
proxy per module; the other name keeps linters from seeing the import shadowed).
"""

from __future__ import annotations

import pytest

from persidict.fault_proxy import FaultProxy, Request

WRITES = ("PUT", "POST", "DELETE")


@pytest.fixture(scope="module", name="proxy")
def proxy_fixture(moto_endpoint):
    """A FaultProxy in front of the session's moto server, for one test module."""
    with FaultProxy(moto_endpoint) as p:
        yield p


def commit_request(req: Request) -> bool:
    """A request that changes the store."""
    return req.method in WRITES


def a_get(req: Request) -> bool:
    """A GET of an object (not a listing)."""
    return req.method == "GET" and "list-type" not in req.target

"""Many writers, many faults, on GCS (fake-gcs-server) and Azure (azurite).

4 processes add 1 to one counter through a fault proxy that breaks 20% of
all requests with every kind of fault: the counter ends exact, and no
worker meets an OutcomeUnknownError (each lost reply is settled by its
write id). The single-fault cases are in tests/test_gcs.py and test_azure.py.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from persidict import open_dict
from persidict.fault_proxy import FAULTS, FaultProxy
from tests.conftest import BUCKET
from tests.test_s3_faults import CONTEXT, count_up

WORKERS, TIMES = 4, 25


@pytest.fixture(params=["gcs", "azure"])
def cloud(request):
    """(options reaching the emulator through a fault proxy, the proxy, direct options)."""
    options = dict(request.getfixturevalue(f"{request.param}_options"))
    endpoint = options["endpoint_url"]
    upstream, _, account = endpoint.rpartition("/") if request.param == "azure" else (endpoint,) * 3
    with FaultProxy(upstream) as proxy:
        via_proxy = f"{proxy.url}/{account}" if request.param == "azure" else proxy.url
        scheme = "az" if request.param == "azure" else "gs"
        url = f"{scheme}://{BUCKET}/{uuid.uuid4().hex[:12]}"
        yield url, dict(options, endpoint_url=via_proxy, request_timeout=2.0), proxy, options


def test_racing_transforms_at_a_20_percent_fault_rate_count_exactly(cloud):
    url, faulty, proxy, direct = cloud
    open_dict(url, **direct)["counter"] = 0
    d = open_dict(url, **faulty)
    ready, go, results = CONTEXT.Barrier(WORKERS + 1), CONTEXT.Event(), CONTEXT.Queue()
    procs = [
        CONTEXT.Process(target=count_up, args=(d, ready, go, results, TIMES))
        for _ in range(WORKERS)
    ]
    for p in procs:
        p.start()
    ready.wait(timeout=120)
    proxy.set_rate(0.2, seed=8)
    go.set()
    outcomes = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    broken = Counter(r.fault for r in proxy.seen if r.fault)
    proxy.clear()
    assert outcomes == [TIMES] * WORKERS
    assert open_dict(url, **direct)["counter"] == WORKERS * TIMES
    assert set(broken) == set(FAULTS), broken  # every kind of fault was met

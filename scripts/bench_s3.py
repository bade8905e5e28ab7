"""The S3 part of scripts/bench.py: S3Dict on a moto server in its own process.

Contenders on the same server, each under its own prefix, with the same
pickled values at the same object names: S3Dict one request at a time and
batched (setitems/getitems/delitems), the batches as they were before issue
23 (a pool of 10 connections, HEAD + DELETE per key), boto3 with 32 threads (one request per
key; its pool sized to the threads), and s3fs's FSMap (setitems/getitems/
delitems: s3fs's own concurrency, DeleteObjects for deletes).
"""

from __future__ import annotations

import os
import pickle
import socket
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from bench_local import make_keys, make_values, timed

from persidict import S3Dict

S3_OPS = ("set", "get", "delete")

_MOTO_CHILD = """
import logging
import sys
import time

from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import ThreadedMotoServer

logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
rtt = float(sys.argv[2]) / 1000
if rtt:
    # A network round trip, simulated: each request waits in its own server
    # thread, so concurrent requests overlap as they would over a network.
    serve = DomainDispatcherApplication.__call__

    def delayed(self, environ, start_response):
        time.sleep(rtt)
        return serve(self, environ, start_response)

    DomainDispatcherApplication.__call__ = delayed
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print("ready", flush=True)
sys.stdin.read()  # run until the parent closes our stdin
server.stop()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(rtt_ms: float = 0) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _MOTO_CHILD, str(port), str(rtt_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError("the moto server did not start")
    return proc, f"http://127.0.0.1:{port}"


def stop_moto(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


BOTO3_THREADS = 32


class Boto3Threads:
    """boto3 as one writes it for speed: a client with a pool of 32, 32 threads."""

    def __init__(self, endpoint: str, bucket: str, names: list[str], blobs: list[bytes]):
        import boto3
        from botocore.config import Config

        config = Config(max_pool_connections=BOTO3_THREADS, retries={"total_max_attempts": 1})
        self.client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", config=config
        )
        self.bucket, self.names, self.blobs = bucket, [f"boto3/{n}" for n in names], blobs
        self.pool = ThreadPoolExecutor(BOTO3_THREADS)

    def _each(self, fn, *iterables) -> list:
        return list(self.pool.map(fn, *iterables))

    def set(self) -> None:
        put = self.client.put_object
        self._each(lambda k, b: put(Bucket=self.bucket, Key=k, Body=b), self.names, self.blobs)

    def get(self) -> None:
        get = self.client.get_object
        self._each(lambda k: get(Bucket=self.bucket, Key=k)["Body"].read(), self.names)

    def delete(self) -> None:
        delete = self.client.delete_object
        self._each(lambda k: delete(Bucket=self.bucket, Key=k), self.names)


def s3fs_mapper(endpoint: str, bucket: str):
    """s3fs's FSMap under prefix ``s3fs``, without listing caches."""
    import s3fs

    fs = s3fs.S3FileSystem(
        key="testing",
        secret="testing",
        endpoint_url=endpoint,
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    return s3fs.S3Map(f"{bucket}/s3fs", s3=fs, check=False)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_s3(n: int, rounds: int, rtt_ms: float, log) -> dict[str, dict[str, float]]:
    """ops/s (median over rounds) for one-by-one and batched S3 requests.

    Also the moto server's CPU time per operation, since that caps how much
    concurrency can gain against a local server.
    """
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "testing")
    proc, endpoint = start_moto(rtt_ms)
    try:
        d = S3Dict(
            "persidict-bench",
            "store",
            endpoint_url=endpoint,
            region="us-east-1",
            create_bucket=True,
            key="testing",
            secret="testing",
        )
        keys, values = make_keys(n), make_values(n)
        items = dict(zip(keys, values, strict=True))
        # As before issue 23: aiobotocore's pool of 10 connections, and delitems
        # as a HEAD + DELETE per key (the store's single delete, run concurrently).
        old = S3Dict(
            "persidict-bench",
            "before",
            endpoint_url=endpoint,
            region="us-east-1",
            key="testing",
            secret="testing",
            config_kwargs={"max_pool_connections": 10},
        )

        def old_delete(keys: list) -> None:
            results = old.store._gather(old.store._delete, [old._path(k) for k in keys])
            if any(r is not None for r in results):
                raise AssertionError(f"a delete failed: {results}")

        def one_set():
            for k, v in items.items():
                d[k] = v

        def one_get():
            for k in keys:
                d[k]

        def one_delete():
            for k in keys:
                del d[k]

        names = ["/".join((*k[:-1], k[-1] + ".pkl")) for k in keys]
        blobs = [pickle.dumps(v, protocol=5) for v in values]
        boto = Boto3Threads(endpoint, "persidict-bench", names, blobs)
        fsmap = s3fs_mapper(endpoint, "persidict-bench")
        map_items = dict(zip(names, blobs, strict=True))
        ways = {
            "S3Dict one by one": {"set": one_set, "get": one_get, "delete": one_delete},
            "S3Dict batched": {
                "set": lambda: d.setitems(items),
                "get": lambda: d.getitems(keys),
                "delete": lambda: d.delitems(keys),
            },
            "S3Dict batched, as before issue 23": {
                "set": lambda: old.setitems(items),
                "get": lambda: old.getitems(keys),
                "delete": lambda: old_delete(keys),
            },
            f"boto3, {BOTO3_THREADS} threads": {
                "set": boto.set,
                "get": boto.get,
                "delete": boto.delete,
            },
            "s3fs FSMap batched": {
                "set": lambda: fsmap.setitems(map_items),
                "get": lambda: fsmap.getitems(names),
                "delete": lambda: fsmap.delitems(names),
            },
        }
        d.setitems(dict(list(items.items())[:20]))  # warm up the client and pool
        d.delitems(keys[:20])
        times = {way: {op: [] for op in S3_OPS} for way in ways}
        server_cpu = {way: {op: [] for op in S3_OPS} for way in ways}
        boto.set()  # and boto3's and s3fs's
        boto.delete()
        fsmap.getitems(names[:20], on_error="omit")
        for r in range(rounds):
            order = list(ways)[r % len(ways) :] + list(ways)[: r % len(ways)]
            for way in order:
                for op, fn in ways[way].items():
                    before = cpu_seconds(proc.pid)
                    times[way][op].append(timed(fn)[0])
                    server_cpu[way][op].append(cpu_seconds(proc.pid) - before)
            log(f"  S3 (rtt {rtt_ms:g} ms) round {r + 1}/{rounds} done")
    finally:
        stop_moto(proc)
    results = {}
    for way, per_op in times.items():
        results[way] = {op: n / statistics.median(ts) for op, ts in per_op.items()}
        results[way]["server_ms"] = 1000 * statistics.median(
            sum(server_cpu[way][op][r] for op in S3_OPS) / (n * len(S3_OPS)) for r in range(rounds)
        )
    return results

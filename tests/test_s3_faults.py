"""Exact under faults: every operation, every fault, through a real proxy in front of moto.

The proxy (persidict.fault_proxy) breaks the commit request of each operation
once: it loses the reply after the server applied the request, answers 500
after applying it, answers 503 SlowDown, resets the connection before or after
forwarding, truncates the reply, or stalls. With a single writer the truthful
outcome is known, so each operation must report it, or raise a typed OSError
naming the s3:// path where the outcome truly cannot be known (a conditional
delete whose reply was lost); the stored state is checked with a second dict
that talks to moto directly.
"""

from __future__ import annotations

import multiprocessing as mp
import socket
import traceback
import uuid
from collections import Counter

import pytest

from persidict import S3Dict
from persidict.conditions import ETAG_IS_THE_SAME, ITEM_NOT_AVAILABLE
from persidict.errors import BackendError, OutcomeUnknownError
from persidict.fault_proxy import FAULTS
from persidict.storage.s3 import S3Error
from persidict_fs import PersiDictFileSystem
from tests.conftest import BUCKET
from tests.fault_fixtures import a_get, commit_request, proxy_fixture  # noqa: F401


@pytest.fixture
def pair(proxy, s3_options):
    """(dict through the proxy, dict straight to moto) on one fresh prefix."""
    prefix = f"faults-{uuid.uuid4().hex[:10]}"
    options = dict(s3_options)
    direct = S3Dict(BUCKET, prefix, create_bucket=False, **options)
    options.update(endpoint_url=proxy.url, request_timeout=2.0)
    faulty = S3Dict(BUCKET, prefix, create_bucket=False, **options)
    faulty.store.check_conditional_writes()  # the once-per-process probe, not under test
    proxy.clear()
    yield faulty, direct
    proxy.clear()


def run(op, fault, proxy, faulty, direct, before=None):
    """Arm ``fault`` on the request ``op`` breaks, run it; (result or exception).

    ``before`` is filled with the stored items as prepared, before the fault.
    """
    op.prepare(direct)
    if before is not None:
        before.update(direct.items())
    when = a_get if op.reads else commit_request
    proxy.inject(fault, when=when)
    try:
        result = op.act(faulty)
    except Exception as exc:
        result = exc
    assert proxy.pending() == 0, f"the fault was not triggered: {result!r}"
    return result


# Each operation: prepare with `direct`, act with `faulty`, check the outcome.
class Op:
    reads = False
    may_be_unknown = False  # a conditional delete whose reply is lost cannot be told apart
    unknown_unless_sent = False
    """A request reset before it reached the server cannot be told from one applied
    and then undone by another writer: a create that finds the key absent, or a
    plain write that finds a version it never saw (``direct`` wrote it)."""

    def prepare(self, direct):
        direct["k"] = 10

    def not_applied(self, direct, before) -> bool:
        """The stored items as prepared: what an unknown outcome may leave."""
        return dict(direct.items()) == before

    def check(self, result, direct):
        raise NotImplementedError


class SetItem(Op):
    unknown_unless_sent = True

    def act(self, d):
        d["k"] = 11

    def check(self, result, direct):
        assert direct["k"] == 11


class GetItem(Op):
    reads = True

    def act(self, d):
        return d["k"]

    def check(self, result, direct):
        assert result == 10


class SetDefault(Op):
    unknown_unless_sent = True

    def prepare(self, direct):
        pass

    def act(self, d):
        return d.setdefault("k", 7)

    def check(self, result, direct):
        assert result == 7 and direct["k"] == 7


class Pop(Op):
    may_be_unknown = True

    def act(self, d):
        return d.pop("k", "DEFAULT")

    def check(self, result, direct):
        assert result == 10 and "k" not in direct


class Transform(Op):
    def act(self, d):
        return d.transform_item("k", transformer=lambda v: v + 1).new_value

    def check(self, result, direct):
        assert result == 11 and direct["k"] == 11


class TransformNew(Op):
    unknown_unless_sent = True

    def prepare(self, direct):
        pass

    def act(self, d):
        return d.transform_item("k", transformer=lambda v: 1).new_value

    def check(self, result, direct):
        assert result == 1 and direct["k"] == 1


class SetItems(Op):
    unknown_unless_sent = True

    def act(self, d):
        d.setitems({"k": 11, "j": 12})

    def not_applied(self, direct, before) -> bool:
        return direct["k"] == 10 and direct.get("j") in (None, 12)  # per key: j may have landed

    def check(self, result, direct):
        assert direct.getitems(["k", "j"]) == [11, 12]


class GetItems(Op):
    reads = True

    def act(self, d):
        return d.getitems(["k"])

    def check(self, result, direct):
        assert result == [10]


class DelItems(Op):
    def act(self, d):
        d.delitems(["k"])

    def check(self, result, direct):
        assert "k" not in direct


class SetItemIf(Op):
    def act(self, d):
        etag = d.etag("k")
        return d.set_item_if("k", value=11, condition=ETAG_IS_THE_SAME, expected_etag=etag)

    def check(self, result, direct):
        assert result.condition_was_satisfied and direct["k"] == 11


class SetDefaultIf(Op):
    unknown_unless_sent = True

    def prepare(self, direct):
        pass

    def act(self, d):
        return d.setdefault_if(
            "k", default_value=7, condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE
        )

    def check(self, result, direct):
        assert result.condition_was_satisfied and direct["k"] == 7


class DiscardIf(Op):
    may_be_unknown = True

    def act(self, d):
        return d.discard_if("k", condition=ETAG_IS_THE_SAME, expected_etag=d.etag("k"))

    def check(self, result, direct):
        assert result.condition_was_satisfied and "k" not in direct


class AppendOnlySet(Op):
    unknown_unless_sent = True

    def prepare(self, direct):
        pass

    def act(self, d):
        d.append_only = True
        d["k"] = 5

    def check(self, result, direct):
        assert direct["k"] == 5


class ViewCreate(Op):
    unknown_unless_sent = True

    def prepare(self, direct):
        pass

    def act(self, d):
        fs = PersiDictFileSystem(dict=d, skip_instance_cache=True)
        fs.pipe_file("k.pkl", d.format.encode(3), mode="create")

    def check(self, result, direct):
        assert direct["k"] == 3


class ViewAppend(Op):
    def prepare(self, direct):
        direct.store.write("log.txt", b"one\n")

    def act(self, d):
        text = S3Dict(**{**d.get_params(), "serialization_format": "txt"}, create_bucket=False)
        fs = PersiDictFileSystem(dict=text, skip_instance_cache=True)
        with fs.open("log.txt", "ab") as f:
            f.write(b"two\n")

    def check(self, result, direct):
        assert direct.store.read("log.txt") == b"one\ntwo\n"


class SetMtime(Op):
    def act(self, d):
        d.store.set_mtime("k.pkl", 1000.0)  # `touch -d` through the mount

    def check(self, result, direct):
        assert direct.store.info("k.pkl").mtime == 1000.0 and direct["k"] == 10


class MakeFolder(Op):
    unknown_unless_sent = True

    def not_applied(self, direct, before) -> bool:
        return "empty" not in direct.store.listdir("")[1]

    def act(self, d):
        d.store.make_folder("empty")

    def check(self, result, direct):
        assert "empty" in direct.store.listdir("")[1]


class RemoveFolder(Op):
    unknown_unless_sent = True  # the marker was never read: nothing seen proves "not applied"

    def not_applied(self, direct, before) -> bool:
        return "empty" in direct.store.listdir("")[1]

    def prepare(self, direct):
        direct.store.make_folder("empty")

    def act(self, d):
        d.store.remove_folder("empty")

    def check(self, result, direct):
        assert "empty" not in direct.store.listdir("")[1]


OPS = {
    cls.__name__: cls()
    for cls in (
        SetItem,
        GetItem,
        SetDefault,
        Pop,
        Transform,
        TransformNew,
        SetItems,
        GetItems,
        DelItems,
        SetItemIf,
        SetDefaultIf,
        DiscardIf,
        AppendOnlySet,
        ViewCreate,
        ViewAppend,
        SetMtime,
        MakeFolder,
        RemoveFolder,
    )
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", list(OPS))
def test_one_fault_gives_the_true_outcome_or_a_typed_error(name, fault, proxy, pair):
    op = OPS[name]
    faulty, direct = pair
    before = {}
    result = run(op, fault, proxy, faulty, direct, before)
    if isinstance(result, Exception):
        # The only errors allowed with one writer: a conditional delete whose reply
        # was lost finds the object gone and cannot know who removed it; a create or
        # plain write reset before it was forwarded finds nothing that proves it was not.
        assert isinstance(result, OutcomeUnknownError), repr(result)
        assert "s3://" in str(result)
        if op.may_be_unknown:
            assert "k" not in direct
            if name == "Pop":
                assert result.value == 10  # the value removed is handed back, not lost
            return
        assert op.unknown_unless_sent and fault == "reset_before", repr(result)
        assert op.not_applied(direct, before)  # as the answer allows
        return
    op.check(result, direct)


# Many writers, many faults
CONTEXT = mp.get_context("spawn")


def count_up(d, ready, go, results, times: int) -> None:
    try:
        d.store.check_conditional_writes()  # probed before the faults start
        ready.wait(timeout=120)
        go.wait(timeout=120)
        gave_up = 0
        for _ in range(times):
            while True:
                try:
                    d.transform_item("counter", transformer=lambda v: v + 1, n_retries=None)
                    break
                except OutcomeUnknownError:
                    raise  # a failure of this test: the outcome must be known
                except OSError:
                    # A typed failure (e.g. two stalls in a row exhaust the time budget)
                    # promises that nothing was applied: the count proves it. Try again.
                    gave_up += 1
                    if gave_up > times:
                        raise
        results.put(times)
    except BaseException as exc:
        results.put(f"{exc!r}\n{traceback.format_exc()}")


def test_racing_transforms_at_a_20_percent_fault_rate_count_exactly(proxy, pair):
    faulty, direct = pair
    faulty = S3Dict(**{**faulty.get_params(), "request_timeout": 2.0}, create_bucket=False)
    direct["counter"] = 0
    workers, times = 4, 50
    ready, go, results = CONTEXT.Barrier(workers + 1), CONTEXT.Event(), CONTEXT.Queue()
    procs = [
        CONTEXT.Process(target=count_up, args=(faulty, ready, go, results, times))
        for _ in range(workers)
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
    assert outcomes == [times] * workers
    assert direct["counter"] == workers * times
    assert set(broken) == set(FAULTS), broken  # every kind of fault was met


# Bounded, typed failures
def test_a_body_truncated_every_time_is_a_backend_error_naming_the_path(proxy, pair):
    faulty, direct = pair
    direct["k"] = "x" * 1000
    proxy.inject("truncate", when=a_get, times=5)
    with pytest.raises(BackendError, match=r"s3://.*k\.pkl") as caught:
        faulty["k"]
    assert proxy.pending() == 0  # retried five times (max_attempts), then gave up
    assert not isinstance(caught.value.__cause__, BackendError)


def test_slowdown_every_time_keeps_the_s3_error_code(proxy, pair):
    faulty, _ = pair
    proxy.inject("slowdown", when=commit_request, times=5)
    with pytest.raises(S3Error, match=r"s3://.*k\.pkl") as caught:
        faulty["k"] = 1
    assert caught.value.code == "SlowDown"


@pytest.mark.parametrize("op", ["create", "replace", "delete"])
def test_a_conditional_request_reset_every_time_is_unknown_and_changes_nothing(proxy, pair, op):
    # Each of the 5 tries is reset unsent; the client cannot know it was not sent, and
    # each read-back shows the expected version untouched. That is not proof: a request
    # still under way at the server may apply later. So out of tries it reports the
    # outcome unknown, never "not applied" (a caller would run it again: twice).
    faulty, direct = pair
    if op != "create":
        direct["k"] = 1
        assert faulty["k"] == 1  # the version the condition expects, as the faulty dict saw it
    action = {
        "create": lambda: faulty.setdefault("k", 2),
        "replace": lambda: faulty.transform_item("k", transformer=lambda v: v + 1, n_retries=0),
        "delete": lambda: faulty.discard_if(
            "k", condition=ETAG_IS_THE_SAME, expected_etag=direct.etag("k")
        ),
    }[op]
    proxy.inject("reset_before", when=lambda r: r.conditional, times=5)
    with pytest.raises(OutcomeUnknownError, match=r"s3://\S*k\.pkl: the reply was lost"):
        action()
    # A create read back as absent is unknown at once ("never created" and "created,
    # then removed" look alike); the others find their expected version, five times.
    assert proxy.pending() == (4 if op == "create" else 0)
    proxy.clear()
    stored = [e.path for e in direct.store.walk("")]
    assert stored == ([] if op == "create" else ["k.pkl"])  # nothing new, nothing gone
    assert direct.get("k") == (None if op == "create" else 1)
    action()  # the endpoint answers again: the same operation goes through
    assert direct.get("k") == {"create": 2, "replace": 2, "delete": None}[op]


# Batch deletes: DeleteObjects, settled by read-back, never resent blindly
def delete_objects(req) -> bool:
    return req.method == "POST" and "delete" in req.target


BATCH = {"a": 1, "b": 2, "c": 3}


@pytest.mark.parametrize("fault", FAULTS)
def test_delitems_under_one_fault_deletes_exactly_those_keys(proxy, pair, fault):
    # The HEADs first saw each key's version: a read-back showing it is proof
    # enough that the lost DeleteObjects did not delete that key, so it is sent again.
    faulty, direct = pair
    direct.setitems({**BATCH, "keep": 0})
    proxy.inject(fault, when=delete_objects)
    faulty.delitems(list(BATCH))
    assert proxy.pending() == 0
    assert list(direct) == [("keep",)]


@pytest.mark.parametrize("fault", FAULTS)
def test_clear_under_one_fault_deletes_all_or_says_which_keys_are_unknown(proxy, pair, fault):
    # clear() has no earlier version of its keys: a key still there after a lost
    # reply may be another writer's newer value, so it is not sent again.
    faulty, direct = pair
    direct.setitems(BATCH)
    proxy.inject(fault, when=delete_objects)
    try:
        faulty.clear()
    except OutcomeUnknownError as exc:
        assert fault == "reset_before"  # the only fault after which the keys are still there
        assert "s3://" in str(exc) and "delete_objects" in str(exc)
        assert direct.getitems(list(BATCH)) == list(BATCH.values())
    else:
        assert fault != "reset_before"
        assert len(direct) == 0
    assert proxy.pending() == 0


@pytest.fixture
def silent_endpoint():
    """A TCP port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


@pytest.mark.parametrize("operation", ["get", "set", "setdefault"])
def test_a_silent_endpoint_fails_within_the_configured_timeout(silent_endpoint, operation):
    d = S3Dict(
        BUCKET,
        "silent",
        create_bucket=False,
        endpoint_url=silent_endpoint,
        key="testing",
        secret="testing",
        request_timeout=0.5,
    )
    with pytest.raises(OSError, match=r"s3://persidict-tests/.*request_timeout") as caught:
        if operation == "get":
            d["k"]
        elif operation == "set":
            d["k"] = 1
        else:
            d.setdefault("k", 1)
    if operation == "set":  # the PUT was sent: it may have been applied
        assert isinstance(caught.value, OutcomeUnknownError), repr(caught.value)
    else:
        assert isinstance(caught.value, TimeoutError)


# One funnel for the user's options; one round trip for small PUTs
def test_every_request_carries_the_users_s3_options(proxy, s3_options):
    options = dict(s3_options, endpoint_url=proxy.url)
    options["s3_additional_kwargs"] = {"ServerSideEncryption": "AES256"}
    d = S3Dict(BUCKET, f"sse-{uuid.uuid4().hex[:8]}", create_bucket=False, **options)
    d.store.check_conditional_writes()
    proxy.clear()
    d["plain"] = 1
    d.setdefault("created", 2)
    d.transform_item("plain", transformer=lambda v: v + 1)
    d.setitems({"a": 1, "b": 2})
    view = PersiDictFileSystem(dict=d, skip_instance_cache=True)
    view.pipe_file("viewed.pkl", d.format.encode(3))
    puts = [r for r in proxy.seen if r.method == "PUT"]
    assert len(puts) == 6
    assert all(r.headers.get("x-amz-server-side-encryption") == "AES256" for r in puts)
    requests = d.store.requests
    head = requests.run(lambda: requests.request("head_object", Key=f"{d.root_prefix}/a.pkl"))
    assert head["ServerSideEncryption"] == "AES256"


def test_a_small_put_is_one_round_trip_and_a_big_one_asks_first(proxy, pair):
    faulty, _ = pair
    faulty["small"] = b"x" * 1000
    faulty["big"] = b"x" * (2 << 20)
    expects = {
        r.target.rsplit("/", 1)[-1]: r.headers.get("expect")
        for r in proxy.seen
        if r.method == "PUT"
    }
    assert expects == {"small.pkl": None, "big.pkl": "100-continue"}

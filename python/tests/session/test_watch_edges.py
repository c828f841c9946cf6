"""VariableWatch at its edges against a real host: the refusals of bad options (what they say
and which option they name), a replay from ``start_revision``, what the filters are given and
what always passes them, the refusal of a watch its caller may not observe, the life of a
watch (ready, cancel, context manager), and a watch that starts before what the host's event
log still keeps (a host of its own, whose log keeps three commits), and a watch whose first
answer comes late (a host on a private Redis the test pauses), which asks the host what is
wrong. test_watch.py has the common paths."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from host_process import CLI, REPO, running_node, running_serve, socket_dir, start_node, stop_node
from session_watch_helpers import take

from dspy_bridge.core.host import open_channel
from dspy_bridge.errors import BridgeClosedError, BridgePermissionError, InvalidArgumentError
from dspy_bridge.session import SessionContext


async def test_bad_options_are_refused_naming_the_option(session: SessionContext) -> None:
    refusals: list[tuple[dict[str, Any], str, str]] = [
        ({"start_revision": 0}, "start_revision", "start_revision must be an integer >= 1, got 0"),
        ({"start_revision": True}, "start_revision", "start_revision must be an integer >= 1, got True"),
        ({"start_revision": 2.0}, "start_revision", "start_revision must be an integer >= 1, got 2.0"),
        ({"start_revision": "3"}, "start_revision", "start_revision must be an integer >= 1, got '3'"),
        ({"throttle_ms": -1}, "throttle_ms", "throttle_ms must be a number of milliseconds >= 0, got -1"),
        ({"debounce_ms": -0.5}, "debounce_ms", "debounce_ms must be a number of milliseconds >= 0, got -0.5"),
        ({"filter_fn": "not callable"}, "filter_fn", "filter_fn must be callable"),
    ]
    for kwargs, parameter, message in refusals:
        with pytest.raises(InvalidArgumentError) as refused:
            session.watch_variables(["x"], **kwargs)
        assert (refused.value.parameter, str(refused.value)) == (parameter, message)
    assert session.active_watches == 0


async def test_a_watch_from_start_revision_replays_every_change_since(session: SessionContext) -> None:
    await session.register_variable("t", "integer", 0)
    probe = session.watch_variable("t", include_initial=False)
    await probe.ready()
    before = probe.revision  # the host's revision when the watch was registered
    await probe.aclose()
    for v in (1, 2, 3):
        await session.set_variable("t", v)
    replay = session.watch_variable("t", include_initial=False, start_revision=before + 2)
    await replay.ready()
    assert replay.revision == before + 1, "nothing delivered yet: the revision before the replay"
    got = await take(replay, 2)
    assert [(u.value, u.old_value, u.revision, u.initial) for u in got] == [
        (2, 1, before + 2, False),
        (3, 2, before + 3, False),
    ]
    assert replay.revision == before + 3
    await replay.aclose()
    # With the current value first: the snapshot, then the same replay.
    both = session.watch_variable("t", start_revision=before + 3)
    got = await take(both, 2)
    assert [(u.value, u.initial) for u in got] == [(3, True), (3, False)]
    await both.aclose()


async def test_filters_see_old_and_new_values_and_snapshots_and_deletions_pass(session: SessionContext) -> None:
    await session.register_variables([{"name": n, "type": "integer", "initial_value": 0} for n in ("a", "b")])
    asked: list[tuple[Any, ...]] = []

    def only_a(name: str, old: Any, new: Any) -> bool:
        asked.append((name, old, new))
        return name == "a"

    w = session.watch_variables(["a", "b"], filter_fn=only_a)
    initial = await take(w, 2)
    assert sorted((u.name, u.value, u.initial) for u in initial) == [("a", 0, True), ("b", 0, True)]
    assert asked == [], "snapshot values are not filtered"
    await session.set_variable("b", 5)
    await session.set_variable("a", 7)
    await session.delete_variable("b")
    got = await take(w, 2)
    assert [(u.name, u.kind, u.value) for u in got] == [("a", "put", 7), ("b", "delete", None)]
    assert asked == [("b", 0, 5), ("a", 0, 7)], "deletions are not filtered"
    await w.aclose()

    one: list[tuple[Any, Any]] = []
    single = session.watch_variable(
        "a", include_initial=False, filter_fn=lambda old, new: one.append((old, new)) or new > 10
    )
    await single.ready()
    await session.set_variable("a", 8)
    await session.set_variable("a", 11)
    [u] = await take(single, 1)
    assert (u.old_value, u.value) == (8, 11)
    assert one == [(7, 8), (8, 11)]
    await single.aclose()


async def test_a_watch_its_caller_may_not_observe_is_refused_saying_who_and_what(
    session: SessionContext, session_id: str
) -> None:
    await session.register_variable("api_key", "string", "k1")
    await session.set_variable_permissions("api_key", [{"session_pattern": "any", "permissions": ["read"]}])
    admin = SessionContext(session_id, session.channel, caller_session_id="admin_1")
    await admin.initialize()
    try:
        w = admin.watch_variable("api_key")
        with pytest.raises(BridgePermissionError) as refused:
            await w.ready()
        assert str(refused.value) == "session 'admin_1' may not observe variable 'api_key'"
        assert refused.value.details == {"variable": "api_key", "permission": "observe", "session_id": "admin_1"}
        assert w.closed
    finally:
        await admin.close()


async def test_a_callers_watch_resumes_as_that_caller(host: Any, session: SessionContext, session_id: str) -> None:
    address, token = host
    await session.register_variable("n", "integer", 0)
    owner = {"session_pattern": session_id, "permissions": ["read", "write", "observe"]}
    await session.set_variable_permissions("n", [owner, {"session_pattern": "any", "permissions": ["read", "observe"]}])
    admin = SessionContext(session_id, open_channel(address, token), caller_session_id="admin_1")
    await admin.initialize()
    try:
        w = admin.watch_variable("n", include_initial=False)
        await w.ready()
        await admin.channel.close()
        # While the stream is down, admin_1 loses observe: the resumed watch asks as admin_1.
        await session.set_variable_permissions("n", [owner, {"session_pattern": "any", "permissions": ["read"]}])
        await session.set_variable("n", 1)
        await admin.reconnect(open_channel(address, token))
        with pytest.raises(BridgePermissionError):
            await take(w, 1)
        assert w.closed
    finally:
        await admin.close()


async def test_each_lost_channel_counts_one_reconnect(session: SessionContext, other: SessionContext) -> None:
    await session.register_variable("c", "integer", 0)
    w = session.watch_variable("c", include_initial=False)
    assert (w.revision, w.closed, w.reconnects) == (0, False, 0), "before the first answer"
    await w.ready()
    for i in (1, 2):
        await session.channel.close()  # the stream dies with the channel; the context opens another
        await other.set_variable("c", i)
        [u] = await take(w, 1)
        assert (u.value, w.reconnects) == (i, i)
    w.cancel()


async def test_the_life_of_a_watch(session: SessionContext) -> None:
    await session.register_variable("t", "integer", 0)
    w = session.watch_variables(["t"])
    names = w.names
    names.append("other")
    assert w.names == ["t"], "names is a copy"
    assert not w.closed
    w.cancel()
    assert w.closed
    with pytest.raises(BridgeClosedError) as cancelled:
        await w.ready()
    assert str(cancelled.value) == "the watch was cancelled"
    await w.aclose()  # after a cancel: nothing to raise
    async with session.watch_variable("t") as managed:
        [u] = await take(managed, 1)
        assert u.value == 0 and u.initial
    assert managed.closed and session.active_watches == 0


# A host whose store keeps only the last three commits in its event log: a watch that starts
# (or resumes) before them is answered `compacted`, and resyncs by reading the variables.
SMALL_LOG_HOST = Path(__file__).with_name("small_log_host.mjs")
CLI_BUILT = REPO / "ts" / "dist" / "src" / "cli" / "main.js"


@pytest.fixture(scope="module")
def small_log_host() -> Iterator[tuple[str, str]]:
    """(address, token) of a host whose log keeps three commits. The mutation runs
    (scripts/mutation.mjs) start one for every mutant's test run and name it in
    DSPY_BRIDGE_TEST_SMALL_LOG_HOST_ADDRESS: starting it takes longer than the test."""
    running = os.environ.get("DSPY_BRIDGE_TEST_SMALL_LOG_HOST_ADDRESS")
    if running:
        yield running, os.environ.get("DSPY_BRIDGE_TEST_HOST_TOKEN", "")
        return
    token = secrets.token_urlsafe(32)
    index = REPO / "ts" / "dist" / "src" / "index.js"
    with running_node(
        "dspy-bridge-small-log-",
        lambda listen: [str(SMALL_LOG_HOST), str(index), listen],
        built=index,
        env=dict(os.environ, DSPY_BRIDGE_TOKEN=token),
    ) as node:
        yield node.ready["address"], token


async def test_a_watch_from_before_the_kept_log_reads_the_variables_then_goes_on(
    small_log_host: tuple[str, str], session_id: str
) -> None:
    address, token = small_log_host
    async with await SessionContext.connect(address, session_id, token=token) as ctx:
        await ctx.register_variables([{"name": n, "type": "integer", "initial_value": 0} for n in ("a", "b")])
        for v in range(1, 6):  # five commits: revision 1 is no longer in the log
            await ctx.set_variable("a", v)
        await ctx.set_variable("b", 9)
        current = max(h["revision"] for h in await ctx.get_variable_history("b", limit=10))

        w = ctx.watch_variables(["a"], include_initial=False, start_revision=1)
        await w.ready()
        # Not the changes since revision 1 (gone), but the variable as it is now, marked as a
        # snapshot, at the revision of that read; include_initial=False does not hide it.
        [snap] = await take(w, 1)
        assert (snap.name, snap.value, snap.initial, snap.revision) == ("a", 5, True, current)
        assert w.revision == current
        await ctx.set_variable("b", 10)  # not watched
        await ctx.set_variable("a", 6)
        [u] = await take(w, 1)
        assert (u.name, u.value, u.old_value, u.initial, u.revision) == ("a", 6, 5, False, current + 2)
        assert w.revision == current + 2
        await w.aclose()

        # Every variable (no names): the resync lists the session.
        every = ctx.watch_variables([], start_revision=1)
        got = await take(every, 2)
        assert sorted((u.name, u.value, u.initial, u.revision) for u in got) == [
            ("a", 6, True, current + 2),
            ("b", 10, True, current + 2),
        ]
        assert every.revision == current + 2
        await ctx.set_variable("b", 11)
        [u] = await take(every, 1)
        assert (u.name, u.value, u.initial, u.revision) == ("b", 11, False, current + 3)
        await every.aclose()


async def test_a_callers_resync_reads_as_that_caller(small_log_host: tuple[str, str], session_id: str) -> None:
    address, token = small_log_host
    async with await SessionContext.connect(address, session_id, token=token) as ctx:
        await ctx.register_variables([{"name": n, "type": "integer", "initial_value": 0} for n in ("a", "b")])
        # admin_1 may observe both, but read only a.
        owner = {"session_pattern": session_id, "permissions": ["read", "write", "observe"]}
        await ctx.set_variable_permissions("a", [owner, {"session_pattern": "any", "permissions": ["read", "observe"]}])
        await ctx.set_variable_permissions("b", [owner, {"session_pattern": "any", "permissions": ["observe"]}])
        for v in range(1, 5):  # revision 1 is no longer in the log
            await ctx.set_variable("a", v)
        admin = SessionContext(session_id, ctx.channel, caller_session_id="admin_1")
        await admin.initialize()
        try:
            # Every variable: the resync's listing leaves out what the caller may not read.
            every = admin.watch_variables([], start_revision=1)
            [snap] = await take(every, 1)
            assert (snap.name, snap.value, snap.initial) == ("a", 4, True)
            await ctx.set_variable("a", 5)
            [u] = await take(every, 1)  # the next update is this change, not a snapshot of b
            assert (u.name, u.value, u.initial) == ("a", 5, False)
            await every.aclose()
            # Named: reading b as the caller is refused, and the watch ends with that refusal.
            named = admin.watch_variables(["a", "b"], start_revision=1)
            with pytest.raises(BridgePermissionError, match="admin_1"):
                await take(named, 1)
            assert named.closed
        finally:
            await admin.close()


async def test_throttle_holds_a_variable_back_for_its_interval_after_each_update(session: SessionContext) -> None:
    await session.register_variable("p", "integer", 0)
    w = session.watch_variable("p", include_initial=False, throttle_ms=1000)
    await w.ready()
    loop = asyncio.get_running_loop()
    await session.set_variable("p", 1)
    [first] = await take(w, 1)  # nothing emitted before: out at once
    emitted = loop.time()
    await session.set_variable("p", 2)
    await session.set_variable("p", 3)
    [second] = await take(w, 1)
    # Held back a second after the first, then the newest value, its old value from before both.
    assert loop.time() - emitted >= 0.95
    assert (first.value, first.old_value, first.coalesced) == (1, 0, 1)
    assert (second.value, second.old_value, second.coalesced) == (3, 1, 2)
    assert second.revision == first.revision + 2
    await w.aclose()


async def test_debounce_emits_after_the_quiet_interval_in_commit_order(
    session: SessionContext, other: SessionContext
) -> None:
    await session.register_variables([{"name": n, "type": "integer", "initial_value": 0} for n in ("a", "b")])
    # A filter that lets everything through: the updates it is given are the ones waited for.
    w = session.watch_variables(["a", "b"], include_initial=False, debounce_ms=600, filter_fn=lambda *_: True)
    await w.ready()
    loop = asyncio.get_running_loop()
    waiting = asyncio.ensure_future(take(w, 2))  # the consumer waits before the change arrives
    sent = loop.time()
    assert await other.update_variables({"a": 1, "b": 2}, atomic=True) == {"a": True, "b": True}
    got = await waiting
    assert loop.time() - sent >= 0.6
    # One commit: both at its revision, in the commit's order.
    assert [(u.name, u.value, u.old_value) for u in got] == [("a", 1, 0), ("b", 2, 0)]
    assert got[0].revision == got[1].revision
    # One change that arrives while the consumer waits: held for the interval from its arrival.
    waiting = asyncio.ensure_future(take(w, 1))
    sent = loop.time()
    await other.set_variable("a", 5)
    [u] = await waiting
    assert loop.time() - sent >= 0.6
    assert (u.name, u.value, u.old_value, u.revision) == ("a", 5, 1, got[0].revision + 1)
    await w.aclose()


async def test_cancel_lets_out_what_debounce_holds_then_ends(session: SessionContext) -> None:
    await session.register_variable("n", "integer", 0)
    w = session.watch_variable("n", include_initial=False, debounce_ms=60_000)
    await w.ready()
    await session.set_variable("n", 1)
    await session.set_variable("n", 2)
    last = max(h["revision"] for h in await session.get_variable_history("n", limit=10))

    async def delivered() -> None:
        while w.revision < last:  # the watch's stream has both changes (queued for the consumer)
            await asyncio.sleep(0.01)

    await asyncio.wait_for(delivered(), 10)
    w.cancel()
    [u] = await take(w, 1)
    assert (u.value, u.old_value, u.coalesced, u.revision) == (2, 0, 2, last)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(w.__anext__(), 5)


async def test_a_watch_goes_on_across_a_host_restart(session_id: str) -> None:
    token = secrets.token_urlsafe(32)
    with socket_dir("dspy-bridge-restart-") as tmp:
        serve = [str(CLI), "serve", "--listen", f"unix:{tmp}/bridge.sock", "--workers", "1", "--preload", ""]
        serve += ["--store", f"sqlite:{tmp}/store.db"]  # the session outlives the host
        options: dict[str, Any] = {"built": CLI_BUILT, "env": dict(os.environ, DSPY_BRIDGE_TOKEN=token)}
        node = start_node(serve, **options)
        address = node.ready["address"]
        try:
            async with await SessionContext.connect(address, session_id, token=token) as ctx:
                await ctx.register_variable("n", "integer", 0)
                w = ctx.watch_variable("n", include_initial=False)
                await w.ready()
                await ctx.set_variable("n", 1)
                assert [u.value for u in await take(w, 1)] == [1]
                await asyncio.to_thread(stop_node, node.proc)  # the host ends the stream as it shuts down
                # A watch opened while the host is down (its first tries refused) waits for it.
                late = ctx.watch_variable("n", include_initial=False)
                node = await asyncio.to_thread(start_node, serve, **options)
                await late.ready()
                async with await SessionContext.connect(address, session_id, token=token) as writer:
                    await writer.set_variable("n", 2)
                [u] = await take(w, 1)
                assert (u.value, u.old_value, u.initial) == (2, 1, False)
                [u] = await take(late, 1)
                assert (u.value, u.old_value, u.initial) == (2, 1, False)
        finally:
            stop_node(node.proc)


def _redis_command(port: int, *args: str) -> bytes:
    """One command to the Redis at ``port`` (its RESP encoding by hand: no client library needed); its answer."""
    request = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request.encode())
        return conn.recv(64)


@pytest.fixture(scope="module")
def redis_host() -> Iterator[tuple[str, str, int]]:
    """A host whose store is a private Redis: (address, token, Redis port). The mutation runs
    start one for every mutant's test run (DSPY_BRIDGE_TEST_REDIS_HOST_ADDRESS and _PORT)."""
    running = os.environ.get("DSPY_BRIDGE_TEST_REDIS_HOST_ADDRESS")
    if running:
        yield (
            running,
            os.environ.get("DSPY_BRIDGE_TEST_HOST_TOKEN", ""),
            int(os.environ["DSPY_BRIDGE_TEST_REDIS_HOST_PORT"]),
        )
        return
    server = shutil.which("redis-server")
    if server is None:
        # Never skipped, as the TypeScript Redis tests: npm test installs it (scripts/redis.mjs).
        pytest.fail("redis-server is not installed: `node scripts/redis.mjs --print` installs it (npm test does)")
    with socket_dir("dspy-bridge-redis-") as tmp:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        redis = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    if _redis_command(port, "PING").startswith(b"+PONG"):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            token = secrets.token_urlsafe(32)
            with running_serve("dspy-bridge-redis-host-", token, "--store", f"redis://127.0.0.1:{port}/0") as node:
                yield node.ready["address"], token, port
        finally:
            redis.terminate()
            redis.wait()


async def test_a_watch_whose_first_answer_is_late_asks_the_host_what_is_wrong(
    redis_host: tuple[str, str, int], session_id: str
) -> None:
    address, token, port = redis_host
    async with await SessionContext.connect(address, session_id, token=token) as ctx:
        await ctx.register_variable("open", "integer", 1)
        await ctx.register_variable("api_key", "string", "k1")
        # The owner may observe it, admin_1 only read it: the client asks as its caller.
        await ctx.set_variable_permissions(
            "api_key",
            [
                {"session_pattern": session_id, "permissions": ["read", "write", "observe"]},
                {"session_pattern": "any", "permissions": ["read"]},
            ],
        )
        admin = SessionContext(session_id, ctx.channel, caller_session_id="admin_1")
        await admin.initialize()
        try:
            # The store stops answering for two seconds: the host answers the watch past the
            # second the client waits, so the client asks (session, then each variable) itself.
            assert _redis_command(port, "CLIENT", "PAUSE", "2000", "ALL").startswith(b"+OK")
            refused_watch = admin.watch_variables(["open", "api_key"])
            with pytest.raises(BridgePermissionError) as refused:
                await refused_watch.ready()
            assert str(refused.value) == "session 'admin_1' may not observe variable 'api_key'"
            assert refused.value.details == {"variable": "api_key", "permission": "observe", "session_id": "admin_1"}
            assert refused_watch.closed

            # Nothing wrong: the late answer is waited for.
            assert _redis_command(port, "CLIENT", "PAUSE", "2000", "ALL").startswith(b"+OK")
            late = ctx.watch_variables(["open", "api_key"])
            got = await take(late, 2)
            assert sorted((u.name, u.value, u.initial) for u in got) == [("api_key", "k1", True), ("open", 1, True)]
            await late.aclose()
        finally:
            await admin.close()

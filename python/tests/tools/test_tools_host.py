"""Tools in both directions against a real TypeScript host (tools_host.mjs): TypeScript tools
called from this (outside) Python process and from Python tools inside a worker, Python
tools called from TypeScript, nested calls, errors, cancellation, sessions, streaming, and a
DSPy ReAct agent with one TypeScript and one Python tool."""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING, Any

import dspy
import pytest

from dspy_bridge.core.host import HostClient
from dspy_bridge.errors import (
    BridgeError,
    BridgeTimeoutError,
    InvalidArgumentError,
    NotFoundError,
)
from dspy_bridge.session import SessionContext
from dspy_bridge.testing import ScriptedLM
from dspy_bridge.tools import (
    SessionTools,
    ToolRegistry,
    call_tool,
    close_tool_clients,
    list_tools,
    python_tools_as_dspy,
    stream_tool,
    tool,
    tool_client,
    typescript_tools,
)

if TYPE_CHECKING:
    from .conftest import TSHost


async def until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def tag_of(session_id: str, what: str) -> str:
    return f"{what}-{session_id}"


# -- Python (outside process) -> TypeScript tools -------------------------------------------


async def test_list_typescript_tools_with_schemas(client: HostClient) -> None:
    tools = {t.name: t for t in await list_tools(client=client)}
    assert {"add", "slow", "fail", "count", "ts_calls_python"} <= set(tools)
    add = tools["add"]
    assert add.owner == "typescript" and add.description == "Add two numbers" and not add.streaming
    assert add.parameters["required"] == ["a", "b"]
    assert add.parameters["properties"]["a"] == {"type": "number", "description": "first number"}
    assert tools["count"].streaming
    assert all(t.owner == "typescript" for t in tools.values())  # the bridge service lists TypeScript tools


async def test_call_a_typescript_tool(client: HostClient) -> None:
    assert await call_tool("add", {"a": 2, "b": 3.5}, client=client) == 5.5


async def test_default_client_from_the_environment(ts: TSHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSPY_BRIDGE_ADDRESS", ts.address)
    monkeypatch.setenv("DSPY_BRIDGE_TOKEN", ts.token)
    first = await tool_client()
    assert await call_tool("add", {"a": 1, "b": 1}) == 2
    assert await tool_client() is first  # one client per process and event loop
    await close_tool_clients()


async def test_typescript_schema_violation_names_the_argument(client: HostClient) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        await call_tool("add", {"a": "two", "b": 3}, client=client)
    assert info.value.parameter == "a"
    with pytest.raises(InvalidArgumentError) as missing:
        await call_tool("add", {"a": 1}, client=client)
    assert "b" in str(missing.value)


async def test_unknown_typescript_tool(client: HostClient) -> None:
    with pytest.raises(NotFoundError) as info:
        await call_tool("no_such_tool", {}, client=client)
    assert "no_such_tool" in str(info.value)


async def test_typescript_errors_keep_their_type(client: HostClient) -> None:
    with pytest.raises(NotFoundError) as nf:
        await call_tool("fail", {"kind": "not_found"}, client=client)
    assert nf.value.message == "no such record: 42" and nf.value.details.get("record") == 42
    with pytest.raises(InvalidArgumentError) as ia:
        await call_tool("fail", {"kind": "invalid"}, client=client)
    assert ia.value.parameter == "limit"
    with pytest.raises(BridgeError) as plain:
        await call_tool("fail", {"kind": "plain"}, client=client)
    assert "plain failure (plain)" in plain.value.message


async def test_cancelling_the_python_task_aborts_the_typescript_tool(
    ts: TSHost, client: HostClient, session_id: str
) -> None:
    tag = tag_of(session_id, "cancel")
    task = asyncio.ensure_future(call_tool("slow", {"ms": 30000, "tag": tag}, client=client))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2

    async def aborted() -> bool:
        return tag in (await ts.run("state"))["aborts"]

    await until(aborted)


async def test_timeout_aborts_the_typescript_tool(ts: TSHost, client: HostClient, session_id: str) -> None:
    tag = tag_of(session_id, "timeout")
    started = time.monotonic()
    with pytest.raises(BridgeTimeoutError):
        await call_tool("slow", {"ms": 30000, "tag": tag}, timeout=0.3, client=client)
    assert time.monotonic() - started < 3

    async def aborted() -> bool:
        return tag in (await ts.run("state"))["aborts"]

    await until(aborted)


async def test_stream_a_typescript_tool(ts: TSHost, client: HostClient, session_id: str) -> None:
    assert [i async for i in stream_tool("count", {"n": 5}, client=client)] == [0, 1, 2, 3, 4]
    with pytest.raises(InvalidArgumentError) as info:
        async for _ in stream_tool("count", {"n": -1}, client=client):
            pass
    assert info.value.parameter == "n"
    with pytest.raises(InvalidArgumentError):
        await call_tool("count", {"n": 1}, client=client)  # a streaming tool is not called

    tag = tag_of(session_id, "stop")
    got = []
    async for item in stream_tool("count", {"n": 1000, "delayMs": 20, "tag": tag}, client=client):
        got.append(item)
        if len(got) == 3:
            break  # leaving early cancels the stream
    assert got == [0, 1, 2]

    async def stopped() -> bool:
        return tag in (await ts.run("state"))["streamStops"]

    await until(stopped)


async def test_a_long_stream_over_grpc_and_a_slow_consumer_holding_the_tool_back(
    ts: TSHost, client: HostClient, session_id: str
) -> None:
    # The host's StreamTool handler waits while gRPC's buffer is full (write() false, then
    # "drain"): every item of a long stream still arrives, and a slow consumer is not outrun
    # by the whole stream.
    assert [i async for i in stream_tool("count", {"n": 5000}, client=client)] == list(range(5000))
    tag = tag_of(session_id, "slow consumer")
    got = []
    async for item in stream_tool("count", {"n": 1_000_000, "tag": tag}, client=client):
        got.append(item)
        await asyncio.sleep(0.02)
        if len(got) == 10:
            break
    assert got == list(range(10))
    produced = (await ts.run("state"))["produced"][tag]
    assert produced < 200_000, f"the tool ran {produced} items ahead of a consumer that took 10"


async def test_nested_python_typescript_python(client: HostClient) -> None:
    # this process -> TypeScript 'ts_calls_python' -> the worker's Python 'py_add'
    assert await call_tool("ts_calls_python", {"x": 41}, client=client) == {"from": "typescript", "sum": 42}


async def test_per_session_tools(ts: TSHost, client: HostClient, session_id: str) -> None:
    other = f"{session_id}_other"
    await ts.run("register_session_tool", session=session_id, name="session_secret", value=f"secret of {session_id}")
    result = await call_tool("session_secret", {}, session_id=session_id, client=client)
    assert result == {"value": f"secret of {session_id}", "session": session_id}
    for hidden in (other, ""):
        with pytest.raises(NotFoundError):
            await call_tool("session_secret", {}, session_id=hidden, client=client)
    assert "session_secret" in {t.name for t in await list_tools(session_id, client=client)}
    assert "session_secret" not in {t.name for t in await list_tools(other, client=client)}
    mine = [t for t in await list_tools(session_id, client=client) if t.name == "session_secret"]
    assert mine[0].session_id == session_id


async def test_session_tools_on_a_session_context(ts: TSHost, session_id: str) -> None:
    await ts.run("register_session_tool", session=session_id, name="session_secret", value="ctx secret")
    async with await SessionContext.connect(ts.address, session_id, token=ts.token) as ctx:
        tools = SessionTools(ctx)
        assert tools.session_id == session_id
        assert await tools.call("session_secret") == {"value": "ctx secret", "session": session_id}
        assert await tools.call("add", {"a": 1, "b": 2}) == 3
        assert [i async for i in tools.stream("count", {"n": 2})] == [0, 1]
        assert "session_secret" in {t.name for t in await tools.list()}
        # The same through the context's own property.
        assert await ctx.tools.call("session_secret") == {"value": "ctx secret", "session": session_id}
        assert ctx.tools.session_id == session_id


# -- TypeScript -> Python tools (in the worker) ---------------------------------------------


async def test_typescript_lists_python_tools_with_their_schemas(ts: TSHost) -> None:
    reply = await ts.run("list")
    tools = {t["name"]: t for t in reply["tools"]}
    assert tools["py_add"]["owner"] == "python"
    assert tools["py_add"]["description"] == "Adds two integers in Python."
    assert tools["py_add"]["parameters"] == {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "description": "The first addend."},
            "b": {"type": "integer", "description": "The second addend."},
        },
        "required": ["a", "b"],
        "additionalProperties": False,
    }
    assert tools["py_greet"]["parameters"]["properties"]["punctuation"] == {
        "type": "string",
        "enum": ["!", "?", "."],
        "default": "!",
    }
    assert tools["py_count"]["streaming"] is True
    assert "add" in tools  # and the TypeScript ones


async def test_typescript_calls_python_tools(ts: TSHost) -> None:
    assert (await ts.call("py_add", {"a": 2, "b": 3}))["result"] == 5
    assert (await ts.call("py_greet", {"name": "ts", "punctuation": "?"}))["result"] == "hello ts?"


async def test_python_schema_violations_seen_from_typescript(ts: TSHost) -> None:
    bad = await ts.call("py_add", {"a": "2", "b": 3})
    assert (bad["ok"], bad["name"], bad["reason"]) == (False, "InvalidArgumentError", "invalid_argument")
    assert bad["details"].get("parameter") == "a" or "'a'" in bad["error"]
    choice = await ts.call("py_greet", {"name": "x", "punctuation": "~"})
    assert choice["reason"] == "invalid_argument" and "punctuation" in choice["error"]
    unknown = await ts.call("py_nope", {})
    assert unknown["reason"] == "not_found" and "py_nope" in unknown["error"] and "py_add" in unknown["error"]


async def test_python_errors_seen_from_typescript(ts: TSHost) -> None:
    plain = await ts.call("py_fail", {"kind": "value"})
    assert plain["ok"] is False and plain["pythonType"] == "ValueError" and "on purpose" in plain["error"]
    typed = await ts.call("py_fail", {"kind": "not_found"})
    assert (typed["name"], typed["reason"]) == ("NotFoundError", "not_found")


async def test_typescript_streams_python_tools(ts: TSHost) -> None:
    assert (await ts.run("stream", name="py_count", args={"n": 4}))["items"] == [0, 1, 2, 3]
    assert (await ts.run("stream", name="py_words", args={"text": "one two three"}))["items"] == ["one", "two", "three"]


async def test_typescript_cancels_a_python_tool(ts: TSHost, session_id: str) -> None:
    tag = tag_of(session_id, "py-abort")
    reply = await ts.call("py_slow", {"seconds": 30, "tag": tag}, abortAfterMs=300)
    assert reply["ok"] is False
    tag2 = tag_of(session_id, "py-timeout")
    reply2 = await ts.call("py_slow", {"seconds": 30, "tag": tag2}, timeoutMs=300)
    assert reply2["ok"] is False

    async def cancelled() -> bool:
        got = (await ts.call("py_cancelled"))["result"]
        return tag in got and tag2 in got

    await until(cancelled)


# -- Python tools in the worker calling TypeScript tools ------------------------------------


async def test_worker_python_tool_calls_a_typescript_tool(ts: TSHost) -> None:
    reply = await ts.call("py_calls_ts", {"a": 1.5, "b": 2})
    assert reply["ok"], reply
    assert reply["result"]["sum"] == 3.5
    assert reply["result"]["pid"] != os.getpid()  # really in the worker


async def test_nested_in_one_worker_without_deadlock(ts: TSHost) -> None:
    # TypeScript -> Python 'py_nested' -> TypeScript 'ts_calls_python' -> Python 'py_add', one worker
    reply = await asyncio.wait_for(ts.call("py_nested", {"x": 9}), 30)
    assert reply["ok"], reply
    assert reply["result"] == {"from": "typescript", "sum": 10}
    # and several at once
    replies = await asyncio.gather(*(ts.call("py_nested", {"x": i}) for i in range(5)))
    assert [r["result"]["sum"] for r in replies] == [1, 2, 3, 4, 5]


async def test_typescript_errors_reach_a_worker_tool_typed(ts: TSHost) -> None:
    nf = (await ts.call("py_ts_error", {"kind": "not_found"}))["result"]
    assert (nf["type"], nf["reason"], nf["details"].get("record")) == ("NotFoundError", "not_found", 42)
    ia = (await ts.call("py_ts_error", {"kind": "invalid"}))["result"]
    assert (ia["type"], ia["details"].get("parameter")) == ("InvalidArgumentError", "limit")
    bad = (await ts.call("py_ts_bad_args"))["result"]
    assert (bad["type"], bad["parameter"]) == ("InvalidArgumentError", "a")


async def test_worker_tool_cancels_a_typescript_call(ts: TSHost, session_id: str) -> None:
    tag = tag_of(session_id, "worker-cancel")
    assert (await ts.call("py_cancel_ts", {"tag": tag}))["result"] == "cancelled"

    async def aborted() -> bool:
        return tag in (await ts.run("state"))["aborts"]

    await until(aborted)


async def test_worker_tool_sees_its_session_and_its_session_tools(ts: TSHost, session_id: str) -> None:
    await ts.run("register_session_tool", session=session_id, name="session_secret", value="from the session")
    who = (await ts.call("py_whoami", {}, session=session_id))["result"]
    assert who["session"] == session_id and who["current"] == session_id
    ok = await ts.call("py_session_secret", {}, session=session_id)
    assert ok["ok"], ok
    assert ok["result"] == {"value": "from the session", "session": session_id}
    hidden = await ts.call("py_session_secret", {}, session=f"{session_id}_b")
    assert (hidden["ok"], hidden["reason"]) == (False, "not_found")


async def test_streaming_through_a_worker_tool(ts: TSHost) -> None:
    # TypeScript streams Python 'py_relay_stream', which streams TypeScript 'count'
    assert (await ts.run("stream", name="py_relay_stream", args={"n": 4}))["items"] == [0, 2, 4, 6]


# -- DSPy ReAct with a TypeScript tool and a Python tool ------------------------------------


async def test_react_uses_a_typescript_and_a_python_tool(ts: TSHost, client: HostClient, session_id: str) -> None:
    local = ToolRegistry()
    ran: list[dict[str, Any]] = []

    @tool(registry=local)
    def multiply(x: float, y: float) -> float:
        """Multiply two numbers.

        Args:
            x: the first factor.
            y: the second factor.
        """
        ran.append({"x": x, "y": y})
        return x * y

    ts_tools = await typescript_tools(client=client, names=["add"])
    assert ts_tools[0].name == "add" and ts_tools[0].desc == "Add two numbers"
    assert ts_tools[0].args == {
        "a": {"type": "number", "description": "first number"},
        "b": {"type": "number", "description": "second number"},
    }
    tools = ts_tools + python_tools_as_dspy(local)
    a, b = 17, 25 + len(session_id) % 7  # an addend of this test alone, to find its call in the host's log
    lm = ScriptedLM(
        [
            {"next_thought": "Add first.", "next_tool_name": "add", "next_tool_args": {"a": a, "b": b}},
            {"next_thought": "Now double it.", "next_tool_name": "multiply", "next_tool_args": {"x": a + b, "y": 2}},
            {"next_thought": "Done.", "next_tool_name": "finish", "next_tool_args": {}},
            {"reasoning": "computed", "answer": str((a + b) * 2)},
        ]
    )
    agent = dspy.ReAct("question -> answer", tools=tools)
    with dspy.context(lm=lm):
        pred = await agent.acall(question=f"What is ({a} + {b}) * 2?")

    traj = pred.trajectory
    assert traj["tool_name_0"] == "add" and traj["observation_0"] == a + b
    assert traj["tool_name_1"] == "multiply" and traj["observation_1"] == (a + b) * 2
    assert traj["tool_name_2"] == "finish"
    assert pred.answer == str((a + b) * 2)
    assert ran == [{"x": a + b, "y": 2}]  # the Python tool really ran
    calls = (await ts.run("state"))["calls"]
    assert {"tool": "add", "args": {"a": a, "b": b}, "session": None} in calls  # and the TypeScript one
    assert lm.remaining_responses == 0

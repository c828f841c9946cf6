"""The one client every Python path to the host goes through (``dspy_bridge.core.host``):
which token it presents, and the message limit its channels carry, against a real host."""

from __future__ import annotations

import pytest

from dspy_bridge.core import host as host_module
from dspy_bridge.core.host import DEFAULT_MAX_MESSAGE_BYTES, channel_options, connect, resolve_token
from dspy_bridge.errors import AuthenticationError, PayloadTooLargeError
from dspy_bridge.session import SessionContext


def test_the_token_rule_given_then_the_workers_secret_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSPY_BRIDGE_TOKEN", "from-env")
    monkeypatch.setattr(host_module, "_worker_token", None)
    assert resolve_token("given") == "given"
    assert resolve_token() == "from-env"  # outside a worker
    monkeypatch.setattr(host_module, "_worker_token", "worker-secret")
    assert resolve_token("given") == "given"
    assert resolve_token() == "worker-secret"  # inside a worker its host's secret wins
    monkeypatch.delenv("DSPY_BRIDGE_TOKEN")
    monkeypatch.setattr(host_module, "_worker_token", None)
    assert resolve_token() is None


async def test_a_workers_secret_wins_over_a_stale_environment_token(
    host: object, session_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, token = host  # type: ignore[misc]
    monkeypatch.setenv("DSPY_BRIDGE_TOKEN", "stale-token-of-another-host")
    monkeypatch.setattr(host_module, "_worker_token", token)
    # SessionContext and the tools' HostClient follow the same rule (they used to differ).
    async with await SessionContext.connect(address, session_id) as ctx:
        await ctx.register_variable("x", "integer", 1)
        assert await ctx.get_variable("x", bypass_cache=True) == 1
    client = await connect(address)
    try:
        assert (await client.ping("hi")).message == "hi"
    finally:
        await client.close()


async def test_without_a_workers_secret_the_environment_token_is_used(
    host: object, session_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, _token = host  # type: ignore[misc]
    monkeypatch.setattr(host_module, "_worker_token", None)
    monkeypatch.setenv("DSPY_BRIDGE_TOKEN", "wrong-token-0123456789")
    with pytest.raises(AuthenticationError):
        await SessionContext.connect(address, session_id)
    client = await connect(address)
    try:
        with pytest.raises(AuthenticationError):
            await client.ping("hi")
    finally:
        await client.close()


def test_channels_carry_the_workers_message_limit_else_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_module, "_worker_max_message_bytes", None)
    assert dict(channel_options()) == {
        "grpc.max_receive_message_length": DEFAULT_MAX_MESSAGE_BYTES,
        "grpc.max_send_message_length": DEFAULT_MAX_MESSAGE_BYTES,
    }
    monkeypatch.setattr(host_module, "_worker_max_message_bytes", 4096)
    assert set(dict(channel_options()).values()) == {4096}
    assert set(dict(channel_options(2048)).values()) == {2048}


async def test_a_channel_refuses_a_request_over_its_limit(
    host: object, session_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, token = host  # type: ignore[misc]
    monkeypatch.setattr(host_module, "_worker_max_message_bytes", 64 * 1024)
    async with await SessionContext.connect(address, session_id, token=token) as ctx:
        await ctx.register_variable("small", "string", "ok")
        # Typed as the worker's connection types it, naming the limit (not a bare resource_exhausted).
        with pytest.raises(PayloadTooLargeError, match="over the message limit of 65536 bytes") as caught:
            await ctx.set_variable("small", "x" * 200_000)
        assert caught.value.reason == "payload_too_large"
        assert caught.value.details["limit"] == 64 * 1024 and caught.value.details["size"] > 200_000
        assert await ctx.get_variable("small", bypass_cache=True) == "ok"


async def test_a_response_over_the_clients_limit_is_a_payload_too_large_error(
    host: object, session_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The request fits; the answer does not fit the client's receiving limit.
    address, token = host  # type: ignore[misc]
    async with await SessionContext.connect(address, session_id, token=token) as ctx:
        await ctx.register_variable("big", "string", "y" * 100_000)
    monkeypatch.setattr(host_module, "_worker_max_message_bytes", 64 * 1024)
    async with await SessionContext.connect(address, session_id, token=token) as ctx:
        with pytest.raises(PayloadTooLargeError, match="over the message limit of 65536 bytes") as caught:
            await ctx.get_variable("big", bypass_cache=True)
        assert caught.value.details["limit"] == 64 * 1024

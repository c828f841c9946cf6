"""The constants shared with the TypeScript host come from the generated module (proto/constants.json)."""

from __future__ import annotations

import dspy_bridge
from dspy_bridge._gen.constants import DEFAULT_MAX_MESSAGE_BYTES, FRAME_OVERHEAD_BYTES, PROTOCOL_VERSION, VERSION
from dspy_bridge.core import host, server


def test_the_package_version_is_the_generated_one() -> None:
    assert dspy_bridge.__version__ == VERSION


def test_the_worker_protocol_uses_the_generated_constants() -> None:
    assert server.PROTOCOL_VERSION == PROTOCOL_VERSION
    assert server.FRAME_OVERHEAD_BYTES == FRAME_OVERHEAD_BYTES
    assert host.DEFAULT_MAX_MESSAGE_BYTES == DEFAULT_MAX_MESSAGE_BYTES == 128 * 1024 * 1024

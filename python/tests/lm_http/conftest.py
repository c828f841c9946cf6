"""A real OpenAI-compatible HTTP server for the LM-over-HTTP tests.

``openai_server`` starts the TypeScript fixture (ts/test/fixtures/openai-server.ts, built by
``tsc -b ts``) in standalone mode once per test session: ``node
ts/dist/test/fixtures/openai-server.js`` prints ``{"event":"ready","url":".../v1"}`` and exits
when its stdin closes, so it never outlives the tests. The handle talks to its admin
endpoints (``/_fixture/...``) with urllib: a few local milliseconds per call.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from host_process import start_node, stop_node

REPO = Path(__file__).resolve().parents[3]
SERVER_JS = REPO / "ts" / "dist" / "test" / "fixtures" / "openai-server.js"
API_KEY_ENV = "FIXTURE_OPENAI_KEY"
API_KEY = "sk-test-fixture-key"

# No provider is reachable: LiteLLM would try to download its model cost map on import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class OpenAIServer:
    """The running fixture: ``url`` (base URL with /v1) and its admin endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._admin = url[: -len("/v1")] + "/_fixture"

    def _call(self, method: str, path: str, body: Any | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self._admin + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def requests(self) -> list[dict[str, Any]]:
        """Every API request received since the last reset: ``{method, path, headers, body}``."""
        return self._call("GET", "/requests")

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["path"].endswith("/chat/completions")]

    def script(self, behaviours: list[dict[str, Any]]) -> None:
        """Queue behaviours for the next requests, one each (``{"status": 429, "retryAfter": 2}``, ...)."""
        self._call("POST", "/script", behaviours)

    def stats(self) -> dict[str, int]:
        """``openConnections``, ``inFlight``, ``maxInFlight``, ``completed``, ``abortedByClient``, ``dropped``, ``received``."""
        return self._call("GET", "/stats")

    def reset(self) -> None:
        """Clears the recorded requests, the script and the counters."""
        self._call("POST", "/reset", {})

    def latency(self, ms: float) -> None:
        """Added before every answer from now on."""
        self._call("POST", "/latency", {"ms": ms})


@pytest.fixture(scope="session")
def openai_server() -> Iterator[OpenAIServer]:
    node = start_node([str(SERVER_JS)], built=SERVER_JS, stdin=True)
    try:
        yield OpenAIServer(node.ready["url"])
    finally:
        if node.proc.stdin is not None:
            node.proc.stdin.close()
        stop_node(node.proc)


@pytest.fixture
def server(openai_server: OpenAIServer) -> Iterator[OpenAIServer]:
    """The session's server, reset and at zero latency for this test."""
    openai_server.reset()
    openai_server.latency(0)
    yield openai_server


@pytest.fixture(autouse=True)
def _fixture_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, API_KEY)

"""Shared by the examples: a fresh session id (the host comes from DSPY_BRIDGE_ADDRESS and
DSPY_BRIDGE_TOKEN, e.g. as printed/used by `dspy-bridge serve`)."""

import os
import sys
import uuid


def session_name(prefix: str) -> str:
    if not os.environ.get("DSPY_BRIDGE_ADDRESS"):
        sys.exit("set DSPY_BRIDGE_ADDRESS (and DSPY_BRIDGE_TOKEN) to a running `dspy-bridge serve`")
    return f"{prefix}_{uuid.uuid4().hex[:8]}"

"""`python -m dspy_bridge._check [--warm]`: what the TypeScript host needs to know about this
interpreter, as one JSON line on stdout.

The host runs it when it builds a managed Python environment (ts/src/pool/python-env.ts), and
`dspy-bridge doctor` when it checks an interpreter: the worker-protocol version of this
dspy_bridge (the host refuses another), its own version, Python's and DSPy's.

``--warm`` also imports what the fork server imports before it forks workers (DSPy, the
commands, both LM engines: DSPy's own and LiteLLM), so that Python writes their bytecode once, when the environment
is built, instead of on the first start (or on every start, under PYTHONDONTWRITEBYTECODE).
"""

from __future__ import annotations

import json
import os
import sys


def _warm() -> None:
    import importlib  # here and below: each import is what this check times or tests

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network on import
    for name in (
        "dspy_bridge.core.fork_server",
        "dspy_bridge.core.server",
        "dspy_bridge.core.host",
        "dspy_bridge.core.builtins",
        "dspy_bridge.session.commands",
        "dspy_bridge.tools.commands",
        "dspy_bridge.optimize.commands",
        "dspy",
        "dspy_bridge.dspy.commands",
    ):
        importlib.import_module(name)
    try:
        from dspy_bridge.core import _lm_engines  # here: timed, like the imports above
    except ImportError:
        _lm_engines = None
    # DSPy's two LM engines, as the fork server preloads them (its default preload may
    # include LiteLLM, which with the OpenAI SDK is most of what a start imports).
    for name in ("warm_native", "warm_litellm"):
        warm = getattr(_lm_engines, name, None)
        if callable(warm):
            warm()
    importlib.import_module("litellm")
    try:
        importlib.import_module("uvloop")  # each worker's event loop, imported after the fork
    except ImportError:
        pass


def main() -> int:
    info: dict[str, object] = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "prefix": sys.prefix,
    }
    # Imported here, as everything this check reports on: a failure becomes a line of the report.
    import dspy_bridge
    from dspy_bridge.core import server

    info["dspy_bridge"] = dspy_bridge.__version__
    info["protocol_version"] = server.PROTOCOL_VERSION
    info["location"] = os.path.dirname(os.path.abspath(dspy_bridge.__file__))
    if "--warm" in sys.argv[1:]:
        _warm()
    try:
        import dspy  # here: a DSPy that fails to import is reported, not raised

        info["dspy"] = getattr(dspy, "__version__", "")
    except Exception as err:  # noqa: BLE001 - reported, not raised: the host words the fix
        info["dspy_error"] = f"{type(err).__name__}: {err}"
    print(json.dumps(info), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

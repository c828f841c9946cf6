"""Put DSPy's global settings back to their defaults (for test isolation)."""

from __future__ import annotations

import copy
import importlib

from dspy.clients import base_lm
from dspy.dsp.utils.utils import dotdict


def reset_dspy_settings() -> None:
    """Restore ``dspy.settings`` to DSPy's defaults, in place.

    Clears what ``dspy.configure`` set (lm, adapter, track_usage, interpreter_factory, ...), the
    ``dspy.context`` overrides of the calling context, and DSPy's global LM history. It also
    forgets which asyncio task first called ``dspy.configure`` (DSPy only lets that task call it
    again), so each async test may call ``dspy.configure`` itself. Call it from the thread that
    configures DSPy (a test's main thread).
    """
    # The module, not the ``Settings`` singleton that ``dspy.dsp.utils`` re-exports under the same name.
    settings_module = importlib.import_module("dspy.dsp.utils.settings")

    with settings_module.global_lock:
        config = settings_module.main_thread_config
        config.clear()
        config.update(copy.deepcopy(dict(settings_module.DEFAULT_CONFIG)))
        settings_module.config_owner_async_task = None
    settings_module.thread_local_overrides.set(dotdict())
    base_lm.GLOBAL_HISTORY.clear()

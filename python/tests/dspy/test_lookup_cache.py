"""The model-metadata memo (dspy_bridge/dspy/_lookup_cache.py): applied only to the DSPy it
was verified against, the same answer as DSPy's own lookup for every model it knows and for
names it does not, a fresh copy for every caller, and switchable off. Results of whole calls
with and without it, over real HTTP: tests/lm_http/test_lookup_cache_http.py."""

from __future__ import annotations

import itertools
import subprocess
import sys

import dspy
import pytest
from dspy.clients import capabilities, costs, model_metadata

from dspy_bridge.dspy import _lookup_cache


@pytest.fixture
def memo() -> object:
    assert _lookup_cache.install()
    yield model_metadata.model_info
    _lookup_cache.install()


def test_the_installed_dspy_is_the_verified_one() -> None:
    """Fails on a DSPy upgrade, on purpose: the memo is then off (DSPy's own function runs)
    until someone re-reads dspy/clients/model_metadata and records the new version's digest
    in VERIFIED, after checking that model_info still depends only on its arguments and the
    loaded metadata."""
    version = dspy.__version__
    assert version in _lookup_cache.VERIFIED, f"DSPy {version} is not verified for the lookup memo: re-verify _lookup_cache.py"
    assert _lookup_cache.model_info_source_digest() == _lookup_cache.VERIFIED[version], (
        f"dspy.clients.model_metadata changed in DSPy {version}: re-verify _lookup_cache.py"
    )


def test_every_binding_dspy_calls_is_replaced(memo: object) -> None:
    assert _lookup_cache.installed()
    assert model_metadata.model_info is memo and costs.model_info is memo and capabilities.model_info is memo
    original = memo.__wrapped__  # type: ignore[attr-defined]
    _lookup_cache.uninstall()
    assert model_metadata.model_info is original and costs.model_info is original and capabilities.model_info is original
    assert not _lookup_cache.installed()


def test_the_same_answer_as_dspy_for_known_and_unknown_models(memo: object) -> None:
    original = memo.__wrapped__  # type: ignore[attr-defined]
    data = model_metadata._load()
    known = [key for key, entry in data.items() if isinstance(entry, dict) and "litellm_provider" in entry][::40]
    names = sorted({key.split("/", 1)[-1] for key in known}) + ["fixture", "my-local-model", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"]
    providers = ["openai", "openai-chat", "anthropic", "gemini", "vertex", "vllm", "ollama", "groq"]
    checked = 0
    for provider, model in itertools.product(providers, names[:60]):
        for namespaces in (None, (), ("openai",), ["openai", "azure"]):
            expected = original(provider, model, namespaces=namespaces)
            assert memo(provider, model, namespaces=namespaces) == expected  # first: computed
            assert memo(provider, model, namespaces=namespaces) == expected  # then: remembered
            checked += 1
    assert checked > 1000
    assert memo("openai", "gpt-4o-mini")["input_cost_per_token"] > 0
    assert memo("openai", "fixture") == {}


def test_every_caller_gets_its_own_copy(memo: object) -> None:
    first = memo("openai", "gpt-4o-mini")
    first["input_cost_per_token"] = -1
    first.clear()
    again = memo("openai", "gpt-4o-mini")
    assert again["input_cost_per_token"] > 0 and again is not first


def test_a_generator_of_namespaces_is_read_once(memo: object) -> None:
    original = memo.__wrapped__  # type: ignore[attr-defined]
    assert memo("openai", "gpt-4o-mini", namespaces=(n for n in ["openai"])) == original("openai", "gpt-4o-mini", namespaces=("openai",))


def test_switched_off_by_the_environment() -> None:
    code = (
        "from dspy_bridge.dspy import _lookup_cache as c; from dspy.clients import model_metadata as m; "
        "print(c.install(), c.installed(), hasattr(m.model_info, '__wrapped__'))"
    )
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    off = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**__import__("os").environ, _lookup_cache.ENV: "0"},
    )
    assert on.stdout.split() == ["True", "True", "True"]
    assert off.stdout.split() == ["False", "False", "False"]

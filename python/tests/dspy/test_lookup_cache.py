"""The model-metadata memos (dspy_bridge/dspy/_lookup_cache.py): applied only to the DSPy and
LiteLLM they were verified against, the same answer as the library's own lookup for every
model it knows and for names it does not (the same exception, for LiteLLM), a fresh copy
for every caller, forgotten when LiteLLM's price list changes, and switchable off. Results of whole calls
with and without it, over real HTTP: tests/lm_http/test_lookup_cache_http.py."""

from __future__ import annotations

import itertools
import subprocess
import sys

import dspy
import pytest
from dspy.clients import capabilities, costs, model_metadata
from dspy.clients._litellm import get_litellm

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
    assert version in _lookup_cache.VERIFIED, (
        f"DSPy {version} is not verified for the lookup memo: re-verify _lookup_cache.py"
    )
    assert _lookup_cache.model_info_source_digest() == _lookup_cache.VERIFIED[version], (
        f"dspy.clients.model_metadata changed in DSPy {version}: re-verify _lookup_cache.py"
    )


def test_the_installed_litellm_is_the_verified_one() -> None:
    """As above, for LiteLLM's lookup functions (litellm.utils: get_model_info_helper and
    what it reads, get_model_info and its lru_cache, the cache invalidation)."""
    from importlib.metadata import version

    get_litellm(feature="dspy.LM")
    installed = version("litellm")
    assert installed in _lookup_cache.VERIFIED_LITELLM, (
        f"LiteLLM {installed} is not verified for the lookup memo: re-verify _lookup_cache.py"
    )
    assert _lookup_cache.litellm_source_digest() == _lookup_cache.VERIFIED_LITELLM[installed], (
        f"LiteLLM {installed}'s model lookups changed: re-verify _lookup_cache.py"
    )


def test_every_binding_dspy_calls_is_replaced(memo: object) -> None:
    assert _lookup_cache.installed()
    assert model_metadata.model_info is memo and costs.model_info is memo and capabilities.model_info is memo
    original = memo.__wrapped__  # type: ignore[attr-defined]
    _lookup_cache.uninstall()
    assert (
        model_metadata.model_info is original and costs.model_info is original and capabilities.model_info is original
    )
    assert not _lookup_cache.installed()


def test_the_same_answer_as_dspy_for_known_and_unknown_models(memo: object) -> None:
    original = memo.__wrapped__  # type: ignore[attr-defined]
    data = model_metadata._load()
    known = [key for key, entry in data.items() if isinstance(entry, dict) and "litellm_provider" in entry][::40]
    names = sorted({key.split("/", 1)[-1] for key in known}) + [
        "fixture",
        "my-local-model",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
    ]
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
    assert memo("openai", "gpt-4o-mini", namespaces=(n for n in ["openai"])) == original(
        "openai", "gpt-4o-mini", namespaces=("openai",)
    )


def test_switched_off_by_the_environment() -> None:
    code = (
        "from dspy_bridge.dspy import _lookup_cache as c; from dspy.clients import model_metadata as m; "
        "print(c.install(), c.installed(), hasattr(m.model_info, '__wrapped__'))"
    )
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    off = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, _lookup_cache.ENV: "0"},
    )
    assert on.stdout.split() == ["True", "True", "True"]
    assert off.stdout.split() == ["False", "False", "False"]


@pytest.fixture
def litellm_memo() -> object:
    litellm = get_litellm(feature="dspy.LM")
    assert _lookup_cache.install() and _lookup_cache.litellm_installed()
    yield litellm
    _lookup_cache.install()


def outcome(fn: object, *args: object) -> tuple[str, object]:
    try:
        return "ok", fn(*args)  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome compared
        return type(exc).__qualname__, str(exc)


def test_litellm_answers_and_failures_are_the_same(litellm_memo: object) -> None:
    import litellm.main
    import litellm.utils as utils

    helper, cached = utils.get_model_info_helper, utils._cached_get_model_info
    assert litellm.main.get_model_info_helper is helper, "every module that bound the helper by name gets the memo"
    original_helper, original_cached = helper.__wrapped__, cached.__wrapped__  # type: ignore[attr-defined]
    cases = [
        ("fixture", "openai", None),
        ("openai/fixture", "openai", None),
        ("fixture", "openai", "http://127.0.0.1:1/v1/"),
        ("gpt-4o-mini", "openai", None),
        ("openai/gpt-4o-mini", "openai", None),
        ("my-local-model", "hosted_vllm", None),
        ("claude-sonnet-4-5", "anthropic", None),
        ("llama3", "ollama", None),  # a provider that may ask its server: never remembered
        ("openai/fixture", None, None),  # provider inferred from the name: never remembered
    ]
    for case in cases:
        for _ in range(2):  # the second time a failure comes from the memo
            assert outcome(helper, *case) == outcome(original_helper, *case), case
            assert outcome(cached, *case) == outcome(original_cached, *case), case
            assert outcome(litellm.get_model_info, case[0], case[1]) == outcome(original_cached, case[0], case[1]), case
    assert outcome(helper, "fixture", "openai")[0] == "ModelNotMappedError"
    assert outcome(helper, "gpt-4o-mini", "openai")[0] == "ok"


def test_a_model_registered_later_is_found(litellm_memo: object) -> None:
    """LiteLLM bumps its price-list generation on register_model: a remembered failure is
    forgotten, as LiteLLM's own cache of successes is cleared."""
    litellm = litellm_memo
    name = "dspy-bridge-registered-later"
    assert outcome(litellm.get_model_info, name, "openai")[0] == "ModelNotMappedError"
    assert outcome(litellm.get_model_info, name, "openai")[0] == "ModelNotMappedError"
    try:
        litellm.register_model(
            {
                f"openai/{name}": {
                    "litellm_provider": "openai",
                    "mode": "chat",
                    "input_cost_per_token": 1e-6,
                    "output_cost_per_token": 2e-6,
                }
            }
        )
        status, info = outcome(litellm.get_model_info, name, "openai")
        assert status == "ok" and info["input_cost_per_token"] == 1e-6  # type: ignore[index]
    finally:
        litellm.model_cost.pop(f"openai/{name}", None)
        import litellm.utils as utils

        utils._invalidate_model_cost_lowercase_map()
    assert outcome(litellm.get_model_info, name, "openai")[0] == "ModelNotMappedError"

"""The session package's public surface."""

from __future__ import annotations

import inspect

import dspy_bridge
import dspy_bridge.session as session_pkg


def test_top_level_exports() -> None:
    from dspy_bridge import SessionContext, SyncSessionContext, VariableCache, VariableUpdate

    assert SessionContext is session_pkg.SessionContext
    assert VariableCache is session_pkg.VariableCache
    assert VariableUpdate is session_pkg.VariableUpdate
    assert SyncSessionContext is session_pkg.SyncSessionContext
    assert set(dspy_bridge.__all__) >= {"SessionContext", "VariableCache", "VariableUpdate"}


def test_all_is_exact() -> None:
    public = {n for n, o in vars(session_pkg).items() if not n.startswith("_") and not inspect.ismodule(o)}
    assert sorted(public) == sorted(session_pkg.__all__)


def test_seed_method_names_and_parameters() -> None:
    sc = session_pkg.SessionContext
    expected = {
        "get_variable": ["name", "default", "bypass_cache"],
        "get_variables": ["names", "defaults", "include_metadata", "include_stats"],
        "register_variable": [
            "name",
            "type",
            "initial_value",
            "constraints",
            "metadata",
            "dependencies",
            "access_rules",
        ],
        "register_variables": ["variables"],
        "set_variable": ["name", "value", "metadata", "create_if_missing", "type_hint"],
        "update_variables": ["updates", "metadata", "atomic"],
        "add_dependency": ["from_variable", "to_variable", "dependency_type", "metadata"],
        "remove_dependency": ["from_variable", "to_variable"],
        "get_dependencies": ["variable", "include_transitive"],
        "get_dependents": ["variable", "include_transitive"],
        "start_optimization": [
            "variable",
            "optimizer_type",
            "optimizer_config",
            "max_iterations",
            "convergence_threshold",
            "callback",
        ],
        "stop_optimization": ["variable"],
        "get_optimization_status": ["variable"],
        "get_optimization_history": ["variable", "limit", "since", "optimizer_id"],
        "register_python_optimizer": ["name", "optimizer_class"],
        "watch_variable": ["name", "include_initial", "filter_fn", "throttle_ms"],
        "watch_variables": ["names", "include_initial", "filter_fn", "throttle_ms", "debounce_ms"],
        "cancel_watch": ["watch_task"],
        "set_variable_permissions": ["variable", "rules"],
        "check_variable_access": ["variable", "permission"],
        "get_variable_history": ["variable", "limit", "offset", "include_metadata"],
        "rollback_variable": ["variable", "version", "reason"],
        "export_variables": ["format", "include_history", "include_dependencies", "filter_pattern"],
        "import_variables": ["data", "format", "merge_strategy", "dry_run"],
        "get_variable_stats": ["variable"],
        "get_cache_info": [],
        "set_cache_config": ["ttl", "max_size", "eviction_policy"],
    }
    for name, params in expected.items():
        for cls in (sc, session_pkg.SyncSessionContext):
            sig = inspect.signature(getattr(cls, name))
            positional = [p.name for p in sig.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD][1:]
            assert positional[: len(params)] == params, (cls.__name__, name, positional)
    cache = session_pkg.VariableCache
    assert list(inspect.signature(cache.get_batch).parameters)[1:] == ["var_ids", "fetch_missing"]
    assert list(inspect.signature(cache.subscribe_invalidation).parameters)[1:] == ["var_id", "callback"]
    assert list(inspect.signature(cache.invalidate_pattern).parameters)[1:] == ["pattern", "reason"]

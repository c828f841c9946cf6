"""SyncSessionContext: the async API from plain threads."""

from __future__ import annotations

import threading

import pytest

from dspy_bridge import SyncSessionContext


def test_sync_api(host: object, session_id: str) -> None:
    address, token = host  # type: ignore[misc]
    with (
        SyncSessionContext(session_id, address, token) as s,
        SyncSessionContext.connect(address, session_id, token) as other,
    ):
        assert s.register_variable("t", "float", 0.5, constraints={"max": 1.0}).startswith("var_t")
        assert s.get_variable("t") == 0.5
        with pytest.raises(ValueError):
            s.set_variable("t", 2.0)
        with pytest.raises(KeyError):
            s.get_variable("nope")
        w = s.watch_variable("t", include_initial=False)
        w.ready(timeout=5)
        other.set_variable("t", 0.75)
        u = w.get(timeout=5)
        assert u.value == 0.75 and u.old_value == 0.5
        with pytest.raises(TimeoutError):
            w.get(timeout=0.2)
        other.set_variable("t", 0.8)
        assert next(w).value == 0.8  # the read pending across the timeout is kept
        w.close()
        with pytest.raises(StopIteration):
            next(w)
        s.wait_for_revision(u.revision, timeout=5)
        assert s.get_variable("t") == 0.8
        s.set_cache_config(ttl=2.0, max_size=5, eviction_policy="lfu")
        info = s.get_cache_info()
        assert info["ttl"] == 2.0 and info["eviction_policy"] == "lfu"
        assert s.update_variables({"t": 0.1}) == {"t": True}
        assert [h["value"] for h in s.get_variable_history("t")][:2] == [0.1, 0.8]
        data = s.export_variables(format="yaml")
        assert s.import_variables(data, format="yaml", dry_run=True)["errors"] == 0
        # The sync wrapper reaches the real call: its argument check answers, typed.
        with pytest.raises(ValueError, match="objective"):
            s.start_optimization("t", "bayesian")
        assert s.get_optimization_status("t")["is_optimizing"] is False
        # Usable from several threads at once.
        errors: list[BaseException] = []

        def reader() -> None:
            try:
                for _ in range(50):
                    assert s.get_variable("t") == 0.1
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []


def test_exists_and_delete(host: object, session_id: str) -> None:
    """A session deleted through one client is gone for the other: exists() says so, and the
    host refuses its variables afterwards."""
    address, token = host  # type: ignore[misc]
    with (
        SyncSessionContext(session_id, address, token) as s,
        SyncSessionContext.connect(address, session_id, token) as other,
    ):
        s.register_variable("kept", "int", 1)
        assert s.exists() and other.exists()
        other.delete()
        assert not s.exists() and not other.exists()
        with pytest.raises(KeyError):
            s.get_variable("kept", bypass_cache=True)

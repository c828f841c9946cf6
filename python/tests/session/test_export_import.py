"""export_variables / import_variables against a real host."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dspy_bridge.session import SessionContext
from dspy_bridge.values import Embedding


async def _populate(s: SessionContext) -> None:
    await s.register_variables(
        [
            {"name": "temperature", "type": "float", "initial_value": 0.7, "constraints": {"min": 0.0, "max": 2.0}},
            {
                "name": "model_name",
                "type": "choice",
                "initial_value": "gpt-4",
                "constraints": {"choices": ["gpt-4", "claude-3"]},
            },
            {"name": "config", "type": "map", "initial_value": {"a": 1, "nested": {"x": 1}}},
            {"name": "emb", "type": "embedding", "initial_value": Embedding([0.25, 0.5, 0.75], dtype=np.float32)},
            {"name": "weights", "type": "tensor", "initial_value": np.arange(12, dtype=np.int32).reshape(3, 4)},
        ]
    )
    await s.register_variable("derived", "float", 1.0, dependencies=["temperature"])
    await s.set_variable("temperature", 0.8)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
async def test_round_trip(fmt: str, host: object, session: SessionContext, session_id: str) -> None:
    await _populate(session)
    data = await session.export_variables(format=fmt, include_history=True)
    assert isinstance(data, bytes)
    if fmt == "json":
        doc = json.loads(data)
        assert {v["name"] for v in doc["variables"]} == {
            "temperature",
            "model_name",
            "config",
            "emb",
            "weights",
            "derived",
        }
        assert any(d["from"] == "derived" for d in doc["dependencies"])
    address, token = host  # type: ignore[misc]
    target = await SessionContext.connect(address, session_id + "_copy", token=token)
    try:
        dry = await target.import_variables(data, format=fmt, dry_run=True)
        assert dry["errors"] == 0 and dry["imported"] == 6 and dry["dry_run"]
        assert await target.list_variables() == {}  # dry run changed nothing
        summary = await target.import_variables(data, format=fmt)
        assert summary["imported"] == 6 and summary["errors"] == 0 and summary["revision"] > 0
        vals = await target.get_variables(["temperature", "model_name", "config", "emb", "weights"])
        assert (
            vals["temperature"] == 0.8
            and vals["model_name"] == "gpt-4"
            and vals["config"] == {"a": 1, "nested": {"x": 1}}
        )
        assert isinstance(vals["emb"], Embedding) and vals["emb"].dtype == np.float32
        np.testing.assert_array_equal(vals["emb"], np.array([0.25, 0.5, 0.75], dtype=np.float32))
        assert vals["weights"].dtype == np.int32 and vals["weights"].shape == (3, 4)
        np.testing.assert_array_equal(vals["weights"], np.arange(12).reshape(3, 4))
        assert [d["name"] for d in await target.get_dependencies("derived")] == ["temperature"]
        with pytest.raises(ValueError):  # constraints came along
            await target.set_variable("temperature", 5.0)
    finally:
        await target.close()


async def test_filter_pattern(session: SessionContext) -> None:
    await _populate(session)
    doc = json.loads(await session.export_variables(filter_pattern=r".*model.*"))
    assert [v["name"] for v in doc["variables"]] == ["model_name"]


async def test_merge_strategies(session: SessionContext) -> None:
    await _populate(session)
    data = await session.export_variables()
    await session.update_variables({"temperature": 1.5, "config": {"b": 2, "nested": {"y": 2}}})
    keep = await session.import_variables(data, merge_strategy="keep")
    assert keep["imported"] == 0 and keep["skipped"] == 6
    assert await session.get_variable("temperature") == 1.5
    merge = await session.import_variables(data, merge_strategy="merge")
    assert merge["errors"] == 0
    assert await session.get_variable("config") == {"b": 2, "nested": {"y": 2, "x": 1}, "a": 1}
    assert await session.get_variable("temperature") == 1.5  # non-map values are kept by merge
    replace = await session.import_variables(data, merge_strategy="replace")
    assert replace["imported"] == 6
    assert await session.get_variable("temperature") == 0.8
    assert await session.get_variable("config") == {"a": 1, "nested": {"x": 1}}
    with pytest.raises(ValueError):
        await session.import_variables(data, merge_strategy="union")


async def test_pickle_refused_with_the_alternatives_named(session: SessionContext) -> None:
    await _populate(session)
    with pytest.raises(ValueError, match="pickle.*arbitrary code.*use 'json' or 'yaml'"):
        await session.export_variables(format="pickle")
    with pytest.raises(ValueError, match="pickle"):
        await session.import_variables(b"\x80\x04K\x01.", format="pickle")


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(_has_pyarrow(), reason="pyarrow is installed: the round trip is tested instead")
async def test_parquet_without_pyarrow_names_the_package(session: SessionContext) -> None:
    from dspy_bridge.session._parquet import MissingDependencyError

    await _populate(session)
    with pytest.raises(ImportError, match="needs the optional package 'pyarrow'.*pip install pyarrow") as err:
        await session.export_variables(format="parquet")
    assert isinstance(err.value, MissingDependencyError) and err.value.details["package"] == "pyarrow"
    with pytest.raises(ImportError, match="pyarrow"):
        await session.import_variables(b"PAR1", format="parquet")


@pytest.mark.skipif(not _has_pyarrow(), reason="pyarrow (optional) is not installed")
async def test_parquet_round_trip_with_history_rows(host: object, session: SessionContext, session_id: str) -> None:
    import io

    import pyarrow.parquet as pq

    await _populate(session)
    data = await session.export_variables(format="parquet", include_history=True)
    assert data[:4] == b"PAR1"
    rows = pq.read_table(io.BytesIO(data)).to_pylist()
    kinds = [r["record"] for r in rows]
    assert kinds[0] == "document" and kinds.count("variable") == 6 and kinds.count("dependency") == 1
    temperature = [r for r in rows if r["name"] == "temperature" and r["record"] == "history"]
    assert [(r["version"], r["value_json"]) for r in temperature] == [
        (1, "0.7"),
        (2, "0.8"),
    ]  # one row per kept version
    as_json = json.loads(await session.export_variables(format="json", include_history=True))
    from dspy_bridge.session._parquet import parquet_to_document

    assert parquet_to_document(data)["variables"] == as_json["variables"]  # the same document
    address, token = host  # type: ignore[misc]
    target = await SessionContext.connect(address, session_id + "_pq", token=token)
    try:
        dry = await target.import_variables(data, format="parquet", dry_run=True)
        assert dry["errors"] == 0 and dry["imported"] == 6
        done = await target.import_variables(data, format="parquet")
        assert done["imported"] == 6
        assert await target.get_variable("temperature") == 0.8
        assert (await target.get_variable("weights")).tolist() == np.arange(12).reshape(3, 4).tolist()
        # imported as the JSON document would be (what the host keeps of the history included)
        via_json = await SessionContext.connect(address, session_id + "_pq_json", token=token)
        try:
            await via_json.import_variables(json.dumps(as_json).encode(), format="json")
            assert [h["value"] for h in await target.get_variable_history("temperature")] == [
                h["value"] for h in await via_json.get_variable_history("temperature")
            ]
        finally:
            await via_json.close()
        with pytest.raises(ValueError, match="not a Parquet file"):
            await target.import_variables(b"not parquet", format="parquet")
    finally:
        await target.close()


async def test_malformed_import_leaves_store_unchanged(session: SessionContext) -> None:
    await _populate(session)
    before = await session.export_variables()
    with pytest.raises(ValueError, match="malformed"):
        await session.import_variables(b"{not json")
    doc = json.loads(before)
    doc["variables"].append({"name": "new_one", "type": "integer", "value": {"json": "1"}})
    doc["variables"].append({"name": "broken", "type": "float", "value": {"json": '"text"'}})
    summary = await session.import_variables(json.dumps(doc).encode())
    assert summary["errors"] == 1 and summary["imported"] == 0
    assert [d["name"] for d in summary["details"] if d["action"] == "error"] == ["broken"]
    assert await session.get_variable("new_one", default="absent") == "absent"
    after = json.loads(await session.export_variables())
    strip = lambda d: [(v["name"], v["value"], v["version"]) for v in d["variables"]]  # noqa: E731
    assert strip(after) == strip(json.loads(before))


async def test_ten_thousand_variable_import(session: SessionContext) -> None:
    doc = {
        "format": "dspy-bridge/variables",
        "version": 1,
        "variables": [{"name": f"v{i}", "type": "integer", "value": {"json": str(i)}} for i in range(10_000)],
    }
    summary = await session.import_variables(json.dumps(doc).encode())
    assert summary["imported"] == 10_000 and summary["errors"] == 0
    vals = await session.get_variables(["v0", "v5000", "v9999"])
    assert vals == {"v0": 0, "v5000": 5000, "v9999": 9999}
    assert (await session.get_variable_stats())["variable_count"] == 10_000
    # The background watch digested the 10,000-change commit and stays live.
    await session.wait_for_revision(summary["revision"], timeout=20)
    assert session.get_cache_info()["watch_live"]


async def test_yaml_warnings_come_back_bounded(session: SessionContext) -> None:
    """Unknown YAML tags: the import works, the host prints nothing, and the warnings come back
    with the summary, bounded and without the document's text."""
    tagged = "\n".join(f'      k{i}: !odd_tag_{i} "document text {i}"' for i in range(300))
    doc = f"format: dspy-bridge/variables\nversion: 1\nvariables:\n  - name: tagged\n    type: string\n    value: {{json: '\"hi\"'}}\n    metadata:\n{tagged}\n"
    summary = await session.import_variables(doc.encode(), format="yaml", dry_run=True)
    assert summary["errors"] == 0 and summary["imported"] == 1
    assert summary["warning_count"] == 300
    assert 0 < len(summary["warnings"]) <= 20
    assert all(len(w) <= 200 and "document text" not in w for w in summary["warnings"])

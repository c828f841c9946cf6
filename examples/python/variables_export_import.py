"""Seed examples: export (JSON with history, YAML, filtered) and import (dry run first)."""

import asyncio
import os
import tempfile

import numpy as np

from _common import session_name
from dspy_bridge import SessionContext


async def main() -> None:
    async with await SessionContext.connect(session_id=session_name("export")) as session:
        await session.register_variables(
            [
                {"name": "temperature", "type": "float", "initial_value": 0.7},
                {"name": "model_name", "type": "string", "initial_value": "gpt-4"},
                {"name": "context_embedding", "type": "embedding", "initial_value": np.linspace(0, 1, 16)},
            ]
        )
        export_data = await session.export_variables(format="json", include_history=True)
        path = os.path.join(tempfile.mkdtemp(), "variables_backup.json")
        with open(path, "wb") as f:
            f.write(export_data)
        model_vars = await session.export_variables(filter_pattern=r".*model.*")
        config = await session.export_variables(format="yaml", include_history=True)
        print(config.decode()[:200], "...")
        try:
            await session.export_variables(format="pickle")
        except ValueError as err:
            print("refused:", err)

    async with await SessionContext.connect(session_id=session_name("restore")) as restored:
        with open(path, "rb") as f:
            data = f.read()
        summary = await restored.import_variables(data, dry_run=True)
        print("dry run:", summary)
        if summary["errors"] == 0:
            print("import:", await restored.import_variables(data))
        emb = await restored.get_variable("context_embedding")
        np.testing.assert_allclose(emb, np.linspace(0, 1, 16))
        merged = await restored.import_variables(model_vars, merge_strategy="keep")
        assert merged["skipped"] == 1
    print("OK")


asyncio.run(main())

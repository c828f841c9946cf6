"""Seed examples: watch_variable with a filter and with throttling, watch_variables with
debouncing, cancel_watch."""

import asyncio

from _common import session_name
from dspy_bridge import SessionContext


async def main() -> None:
    name = session_name("watch")
    session = await SessionContext.connect(session_id=name)
    writer = await SessionContext.connect(session_id=name)  # another client of the session
    try:
        await session.register_variables(
            [
                {"name": "temperature", "type": "float", "initial_value": 0.5},
                {"name": "metrics", "type": "map", "initial_value": {"step": 0}},
                {"name": "query", "type": "string", "initial_value": ""},
                {"name": "filters", "type": "list", "initial_value": []},
                {"name": "sort", "type": "string", "initial_value": "relevance"},
            ]
        )

        async def significant() -> list:
            seen = []
            async for update in session.watch_variable("temperature", filter_fn=lambda old, new: abs(new - old) > 0.05):
                print(f"Significant change: {update.old_value} -> {update.value}")
                seen.append(update.value)
                if update.value == 1.0:
                    return seen
            return seen

        task = asyncio.create_task(significant())
        await asyncio.sleep(0.3)
        for v in (0.52, 0.8, 0.81, 1.0):
            await writer.set_variable("temperature", v)
        assert await asyncio.wait_for(task, 10) == [0.5, 0.8, 1.0]  # initial value, then big moves

        ui_updates = []

        async def update_ui() -> None:
            async for update in session.watch_variable("metrics", throttle_ms=200):  # max 5 updates a second
                ui_updates.append(update.value["step"])
                if update.value["step"] == 50:
                    return

        ui = asyncio.create_task(update_ui())
        await asyncio.sleep(0.3)
        for step in range(1, 51):
            await writer.set_variable("metrics", {"step": step})
        await asyncio.wait_for(ui, 10)
        print("throttled UI saw", len(ui_updates), "updates, last", ui_updates[-1])
        assert ui_updates[-1] == 50 and len(ui_updates) < 51

        searches = []

        async def perform_search() -> None:
            searches.append(await session.get_variables(["query", "filters", "sort"]))

        async def search_box() -> None:
            async for _update in session.watch_variables(
                ["query", "filters", "sort"], include_initial=False, debounce_ms=300
            ):
                await perform_search()

        watch_task = asyncio.create_task(search_box())
        await asyncio.sleep(0.3)
        for text in ("d", "ds", "dsp", "dspy"):
            await writer.set_variable("query", text)
        await asyncio.sleep(1.0)
        session.cancel_watch(watch_task)
        print("searches:", searches)
        assert searches and searches[-1]["query"] == "dspy" and len(searches) <= 2
    finally:
        await writer.close()
        await session.close()
    print("OK")


asyncio.run(main())

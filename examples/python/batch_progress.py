"""Seed usage example "Batch Processing with Progress Tracking", for real."""

import asyncio

from _common import session_name
from dspy_bridge import SessionContext


async def process_batch(batch, temperature):
    await asyncio.sleep(0.005)
    return [x * temperature for x in batch]


async def main() -> None:
    name = session_name("batch")
    session = await SessionContext.connect(session_id=name)
    monitor_client = await SessionContext.connect(session_id=name)  # "from another client"
    try:
        batch_vars = await session.register_variables(
            [
                {"name": "batch_size", "type": "integer", "initial_value": 32, "constraints": {"min": 1, "max": 256}},
                {"name": "processing_temperature", "type": "float", "initial_value": 0.7},
                {"name": "progress", "type": "float", "initial_value": 0.0, "constraints": {"min": 0.0, "max": 100.0}},
            ]
        )
        print("registered:", batch_vars)
        seen = []

        async def progress_monitor():
            async for update in monitor_client.watch_variable("progress", throttle_ms=100):
                print(f"Progress: {update.value:.1f}%")
                seen.append(update.value)

        monitor_task = asyncio.create_task(progress_monitor())
        items = list(range(1000))
        total_items = len(items)
        batch_size = await session.get_variable("batch_size")
        for i in range(0, total_items, batch_size):
            temp = await session.get_variable("processing_temperature")
            batch = items[i : i + batch_size]
            await process_batch(batch, temperature=temp)
            progress = (i + len(batch)) / total_items * 100
            await session.set_variable("progress", progress, metadata={"batch_num": i // batch_size})
        while not seen or seen[-1] != 100.0:
            await asyncio.sleep(0.05)
        monitor_task.cancel()
        assert len(seen) <= 33  # throttled
    finally:
        await monitor_client.close()
        await session.close()
    print("OK")


asyncio.run(main())

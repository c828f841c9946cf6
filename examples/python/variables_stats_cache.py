"""Seed examples: get_variable_stats, get_cache_info, set_cache_config, VariableCache."""

import asyncio

from _common import session_name
from dspy_bridge import SessionContext, VariableCache


async def main() -> None:
    async with await SessionContext.connect(session_id=session_name("stats")) as session:
        await session.register_variable("temperature", "float", 0.7)
        for _ in range(10):
            await session.get_variable("temperature")
        stats = await session.get_variable_stats("temperature")
        print(f"Cache hit rate: {stats['cache_hit_rate']:.2%}")
        overall = await session.get_variable_stats()
        print("overall:", {k: overall[k] for k in ("read_count", "write_count", "cache_hits", "cache_misses")})
        print("cache:", session.get_cache_info())
        session.set_cache_config(ttl=0)  # real-time: no cache
        session.set_cache_config(ttl=5.0, max_size=10000, eviction_policy="lru")

        invalidated = asyncio.Event()

        async def on_invalidate(var_id: str, reason: str) -> None:
            print("invalidated:", var_id, reason)
            invalidated.set()

        session.cache.subscribe_invalidation("temperature", on_invalidate)
        await session.get_variable("temperature")
        await session.set_variable("temperature", 0.9)
        await asyncio.wait_for(invalidated.wait(), 5)

    cache = VariableCache(ttl=1.0, max_size=1000)
    cache.put("a", 1)

    async def fetch_missing(ids):
        return {i: i.upper() for i in ids}

    print("batch:", await cache.get_batch(["a", "b"], fetch_missing))
    print("invalidated by pattern:", await cache.invalidate_pattern(r"^[ab]$", reason="demo"))
    print("OK")


asyncio.run(main())

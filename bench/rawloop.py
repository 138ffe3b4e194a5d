"""The raw limit: a plain aiohttp loop against the target, no database, no bookkeeping."""

from __future__ import annotations

import asyncio
import time

import aiohttp


async def _raw(url: str, seconds: float, concurrency: int) -> float:
    done = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def loop() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                async with session.get(url) as response:
                    await response.read()
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return done / (time.monotonic() - started)


def raw_requests_per_second(url: str, seconds: float = 5.0, concurrency: int = 64) -> float:
    return asyncio.run(_raw(url, seconds, concurrency))

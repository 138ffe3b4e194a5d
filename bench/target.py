"""A fast local HTTP target for the benchmark: answers at once and counts what it saw.

Run as its own process: `python bench/target.py PORT_FILE STATS_FILE`. It binds 127.0.0.1 on a
free port, writes the port to PORT_FILE, and on SIGTERM writes JSON to STATS_FILE: requests seen,
distinct (path, X-Cronicorn-Scheduled-For) slots, and duplicates.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter

from aiohttp import web


async def main(port_file: str, stats_file: str) -> None:
    slots: Counter[tuple[str, str]] = Counter()
    plain = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal plain
        scheduled_for = request.headers.get("X-Cronicorn-Scheduled-For")
        if scheduled_for is None:
            plain += 1  # the raw-limit loop's requests
        else:
            slots[(request.path, scheduled_for)] += 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    with open(port_file, "w") as f:
        f.write(str(port))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await runner.cleanup()
    requests = sum(slots.values())
    with open(stats_file, "w") as f:
        json.dump(
            {
                "scheduler_requests": requests,
                "distinct_slots": len(slots),
                "duplicate_requests": requests - len(slots),
                "raw_requests": plain,
                "slots": [[path, when] for (path, when) in slots],
            },
            f,
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

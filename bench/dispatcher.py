"""The dispatcher alone (not a test): requests/s and CPU per request against the bench target.

    .venv/bin/python bench/dispatcher.py                      # in flight: 100 250 500 1000
    .venv/bin/python bench/dispatcher.py --in-flight 500 --requests 200000

No database and no claims: it keeps N requests in flight through jobs.scheduling.dispatch's
Dispatcher (as runscheduler does, submitting batches of 50 when there is room), over 16,000
distinct endpoint URLs, and prints JSON with the process's CPU microseconds per request. The raw
aiohttp loop of bench/run.py is measured the same way for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

BATCH = 50
DISTINCT_URLS = 16000


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_dispatcher(port: int, in_flight: int, total: int) -> dict:
    from jobs.scheduling.dispatch import Dispatcher, Request

    now = datetime.now(UTC)
    requests = [
        Request(
            endpoint_id=i,
            url=f"http://127.0.0.1:{port}/e/{i % DISTINCT_URLS}",
            method="GET",
            scheduled_for=now,
            attempt=1,
            headers={},
            timeout_seconds=10,
            max_response_bytes=1024,
        )
        for i in range(total)
    ]
    dispatcher = Dispatcher(in_flight, allowed_hosts=frozenset({"127.0.0.1"}))
    try:
        sent = answered = failed = 0
        started, cpu = time.monotonic(), cpu_seconds()
        while answered < total:
            room = dispatcher.capacity
            if sent < total and room >= min(BATCH, in_flight):
                batch = requests[sent : sent + room]
                dispatcher.submit((request.endpoint_id, request) for request in batch)
                sent += len(batch)
            outcomes = dispatcher.take(0.01)
            answered += len(outcomes)
            failed += sum(outcome.status != "success" for _, outcome in outcomes)
        elapsed, cpu = time.monotonic() - started, cpu_seconds() - cpu
    finally:
        dispatcher.close()
    return {
        "in_flight": in_flight,
        "requests": total,
        "failed": failed,
        "requests_per_second": round(total / elapsed),
        "cpu_us_per_request": round(cpu / total * 1e6, 1),
    }


def measure_raw(port: int, seconds: float, concurrency: int) -> dict:
    from rawloop import raw_requests_per_second

    cpu = cpu_seconds()
    rate = raw_requests_per_second(f"http://127.0.0.1:{port}/raw", seconds, concurrency)
    cpu = cpu_seconds() - cpu
    return {
        "concurrency": concurrency,
        "requests_per_second": round(rate),
        "cpu_us_per_request": round(cpu / (rate * seconds) * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in-flight", type=int, nargs="+", default=[100, 250, 500, 1000])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--raw-seconds", type=float, default=5.0)
    args = parser.parse_args()

    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("DATABASE_URL", "sqlite://:memory:")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cronicorn.settings")
    import django

    django.setup()
    from run import start_target

    with tempfile.TemporaryDirectory() as workdir:
        target, port, _ = start_target(Path(workdir))
        try:
            report = {
                "raw_aiohttp": measure_raw(port, args.raw_seconds, 64),
                "dispatcher": [
                    measure_dispatcher(port, in_flight, args.requests)
                    for in_flight in args.in_flight
                ],
            }
        finally:
            target.send_signal(signal.SIGTERM)
            target.wait(timeout=30)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

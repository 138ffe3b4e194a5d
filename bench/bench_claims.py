"""Time the claim statement alone: p50/p95 over many claims, each given back at once."""

from __future__ import annotations

import time

from django.db import connection

from jobs.scheduling import claims


def time_claims(samples: int, batch: int, lease_seconds: float = 20) -> dict:
    worker_id = claims.register_worker("bench-claims", "bench", 0)
    timings: list[float] = []
    claimed = 0
    for _ in range(samples):
        started = time.perf_counter()
        _, rows = claims.claim(worker_id, batch, lease_seconds)
        timings.append((time.perf_counter() - started) * 1000)
        claimed += len(rows)
        claims.release_unstarted(worker_id)
    claims.stop_worker(worker_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM jobs_endpoint")
        registered = cursor.fetchone()[0]
    timings.sort()
    return {
        "samples": samples,
        "batch": batch,
        "endpoints_registered": registered,
        "mean_rows_claimed": round(claimed / samples, 1),
        "p50": round(timings[len(timings) // 2], 3),
        "p95": round(timings[int(len(timings) * 0.95) - 1], 3),
    }

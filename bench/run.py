"""Scheduler benchmark (not a test): offered vs achieved runs per second, lateness, exactly-once.

    .venv/bin/python bench/run.py --endpoints 5000 --interval 2 --duration 30
    .venv/bin/python bench/run.py --endpoints 1000 --interval 1 --duration 30 --workers 2
    .venv/bin/python bench/run.py --database sqlite --endpoints 200 --interval 1 --duration 20
    .venv/bin/python bench/run.py --registered 1000000 --endpoints 1000 --interval 1 --duration 20

It recreates a throwaway database (PostgreSQL `cronicorn_bench` by default), starts a fast local
HTTP target, measures a plain aiohttp loop against it (the raw limit), seeds N endpoints with
interval I spread evenly over the interval (an offered load of N/I runs per second), optionally
registers many more endpoints that are not due (--registered), runs `manage.py runscheduler` for
D seconds in W processes, stops them with SIGTERM, and prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", type=int, default=5000, help="due endpoints (N)")
    parser.add_argument("--interval", type=float, default=2.0, help="their interval in seconds (I)")
    parser.add_argument(
        "--duration", type=float, default=30.0, help="how long the scheduler runs (D)"
    )
    parser.add_argument("--workers", type=int, default=1, help="runscheduler processes")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/cronicorn_bench")
    parser.add_argument("--registered", type=int, default=0, help="extra endpoints never due")
    parser.add_argument("--concurrency", type=int, default=None, help="runscheduler --concurrency")
    parser.add_argument("--batch-size", type=int, default=None, help="runscheduler --batch-size")
    parser.add_argument("--raw-seconds", type=float, default=5.0)
    parser.add_argument(
        "--raw-concurrency",
        type=int,
        default=64,
        help="requests the raw aiohttp loop keeps in flight (64 was its best here: 9,457/s, "
        "against 9,275 at 128 and 6,837 at 500), whatever --concurrency the scheduler has",
    )
    parser.add_argument(
        "--claim-samples",
        type=int,
        default=200,
        help="timed claims of --batch-size (or runscheduler's default) before the run; 0 skips",
    )
    parser.add_argument("--warmup", type=float, default=None, help="seconds left out at the start")
    return parser.parse_args()


def recreate_database(args: argparse.Namespace) -> str:
    if args.database == "sqlite":
        path = ROOT / "data" / "bench.sqlite3"
        path.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    name = args.pg_url.rsplit("/", 1)[1]
    with psycopg.connect(
        PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return args.pg_url


def setup_django(database_url: str) -> None:
    os.environ.update(
        DATABASE_URL=database_url,
        SECRET_KEY="bench-only",
        OUTBOUND_ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="cronicorn.settings",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def start_target(workdir: Path) -> tuple[subprocess.Popen, int, Path]:
    port_file, stats_file = workdir / "port", workdir / "target.json"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "target.py"), str(port_file), str(stats_file)]
    )
    for _ in range(100):
        if port_file.exists() and port_file.read_text():
            return process, int(port_file.read_text()), stats_file
        time.sleep(0.05)
    process.kill()
    raise SystemExit("the benchmark target did not start")


def seed(args: argparse.Namespace, port: int) -> datetime:
    """The not-due endpoints, then N endpoints whose first slots are spread evenly over one
    interval from 3 s later; returns that first slot. (Seeding a million rows takes longer than
    3 s: slots counted from before it would start the run with a backlog.)"""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from jobs.models import Endpoint, Job
    from jobs.scheduling.clock import database_now

    user = get_user_model().objects.create_user("bench")
    job = Job.objects.create(owner=user, name="bench")
    idle_job = Job.objects.create(owner=user, name="registered, not due")
    url = f"http://127.0.0.1:{port}/e/"
    if connection.vendor == "postgresql":
        if args.registered:
            idle_from = database_now() + timedelta(days=365)
            insert_series(idle_job.pk, args.registered, url, 3600, idle_from, spread=False)
        first_slot = database_now() + timedelta(seconds=3)
        insert_series(job.pk, args.endpoints, url, args.interval, first_slot, spread=True)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE jobs_endpoint")
        return first_slot
    first_slot = database_now() + timedelta(seconds=3)
    step = args.interval / max(args.endpoints, 1)
    Endpoint.objects.bulk_create(
        [
            Endpoint(
                job=job,
                name=f"e{i}",
                url=f"{url}{i}",
                interval_seconds=max(1, round(args.interval)),
                next_run_at=first_slot + timedelta(seconds=i * step),
                next_run_source="interval",
            )
            for i in range(args.endpoints)
        ],
        batch_size=2000,
    )
    return first_slot


def insert_series(
    job_id: int, count: int, url: str, interval: float, first: datetime, spread: bool
) -> None:
    """Bulk insert on PostgreSQL in one statement: a million rows in seconds, not minutes."""
    from django.db import connection

    offset = (
        f"(i - 1) * {interval / max(count, 1)} * interval '1 second'" if spread else "interval '0'"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO jobs_endpoint (
                job_id, name, url, method, headers, body, timeout_seconds, max_response_bytes,
                expected_status_codes, interval_seconds, cron, timezone, hint_reason,
                next_run_at, next_run_source, failure_count, slot_attempt, created_at, updated_at
            )
            SELECT %s, 'e' || i, %s || i, 'GET', '{{}}', '', 10, 1024, '[]', %s, '', 'UTC', '',
                   %s + {offset}, 'interval', 0, 0, now(), now()
            FROM generate_series(1, %s) AS i
            """,
            [job_id, url, max(1, round(interval)), first, count],
        )


def run_schedulers(args: argparse.Namespace, database_url: str) -> list[dict]:
    command = [sys.executable, str(ROOT / "manage.py"), "runscheduler"]
    if args.concurrency:
        command += ["--concurrency", str(args.concurrency)]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    env = {**os.environ, "DATABASE_URL": database_url}
    processes = [subprocess.Popen(command, env=env, cwd=ROOT) for _ in range(args.workers)]
    time.sleep(args.duration)
    for process in processes:
        process.send_signal(signal.SIGTERM)
    usages = []
    for process in processes:
        # wait4 gives the child's own CPU time and peak RSS once it has exited.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        usages.append(
            {
                "exit": process.returncode,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "peak_rss_mb": usage.ru_maxrss / 1024,
            }
        )
    return usages


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def analyse(
    args: argparse.Namespace, first_slot: datetime, window: tuple[datetime, datetime]
) -> dict:
    from jobs.models import Run

    start, end = window
    runs = Run.objects.filter(endpoint__job__name="bench")
    in_window = runs.filter(scheduled_for__gte=start, scheduled_for__lt=end)
    lateness = sorted(
        (started - scheduled).total_seconds() * 1000
        for started, scheduled in in_window.values_list("started_at", "scheduled_for").iterator(
            chunk_size=10000
        )
    )
    interval = max(1, round(args.interval)) if args.database == "sqlite" else args.interval
    step = args.interval / max(args.endpoints, 1)
    expected = 0
    for i in range(args.endpoints):
        slot0 = first_slot + timedelta(seconds=i * step)
        # slots slot0 + k * interval inside [start, end)
        first_k = max(0, -int(-((start - slot0).total_seconds()) // interval))
        last_k = int(((end - slot0).total_seconds() - 1e-9) // interval)
        expected += max(0, last_k - first_k + 1)
    started_in_window = runs.filter(started_at__gte=start, started_at__lt=end).count()
    seconds = (end - start).total_seconds()
    return {
        "offered_runs_per_second": round(args.endpoints / interval, 1),
        "achieved_runs_per_second": round(started_in_window / seconds, 1),
        "lateness_ms": {
            "p50": percentile(lateness, 0.50),
            "p95": percentile(lateness, 0.95),
            "p99": percentile(lateness, 0.99),
            "max": lateness[-1] if lateness else None,
        },
        "slots_in_window": {
            "expected": expected,
            "recorded": len(lateness),
            "missed": max(0, expected - len(lateness)),
        },
        "runs_recorded": runs.count(),
        "failed_runs": runs.exclude(status=Run.Status.SUCCESS).count(),
    }


def claim_timings(args: argparse.Namespace) -> dict | None:
    """After the run: time the claim statement alone (p50/p95 ms), each claim released at once,
    once every endpoint is due again (an empty claim would flatter it). Timing it before the run
    would leave the scheduler a backlog to start with."""
    if args.claim_samples <= 0:
        return None
    from bench_claims import time_claims

    from jobs.scheduling.worker import WorkerOptions

    time.sleep(args.interval)
    return time_claims(args.claim_samples, args.batch_size or WorkerOptions.batch_size)


def main() -> None:
    args = parse_args()
    database_url = recreate_database(args)
    setup_django(database_url)
    from rawloop import raw_requests_per_second

    from jobs.scheduling.clock import database_now

    with tempfile.TemporaryDirectory() as workdir:
        target, port, stats_file = start_target(Path(workdir))
        try:
            raw = raw_requests_per_second(
                f"http://127.0.0.1:{port}/raw", args.raw_seconds, args.raw_concurrency
            )
            first_slot = seed(args, port)
            started = database_now()
            usages = run_schedulers(args, database_url)
        finally:
            target.send_signal(signal.SIGTERM)
            target.wait(timeout=30)
        seen = json.loads(stats_file.read_text())
    claims = claim_timings(args)

    warmup = args.warmup if args.warmup is not None else max(args.interval, 2.0)
    window = (
        max(first_slot, started) + timedelta(seconds=warmup),
        started + timedelta(seconds=args.duration - 1),
    )
    report = analyse(args, first_slot, window)
    runs = report["runs_recorded"]
    cpu = sum(u["cpu_seconds"] for u in usages)
    report.update(
        {
            "config": {k: v for k, v in vars(args).items() if k != "pg_url"},
            "target_saw": {k: v for k, v in seen.items() if k != "slots"},
            "duplicates": seen["duplicate_requests"],
            "recorded_equals_requests": runs == seen["scheduler_requests"],
            "cpu_seconds_per_1000_runs": round(cpu / runs * 1000, 3) if runs else None,
            "scheduler_peak_rss_mb": round(max(u["peak_rss_mb"] for u in usages), 1),
            "scheduler_exit_codes": [u["exit"] for u in usages],
            "raw_aiohttp_requests_per_second": round(raw, 1),
            "achieved_over_raw": round(report["achieved_runs_per_second"] / raw, 3)
            if raw
            else None,
            "claim_ms": claims,
        }
    )
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()

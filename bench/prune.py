"""Run history benchmark (not a test): prune 10 million runs, and a 30-day report before and after.

    .venv/bin/python bench/prune.py
    .venv/bin/python bench/prune.py --runs 1000000 --endpoints 100 --days 30

It recreates a throwaway PostgreSQL database (`cronicorn_prune_bench` by default), seeds N
endpoints and R runs spread evenly over the last D days with one INSERT ... SELECT
generate_series, times the 30-day `endpoint_window_stats` over every endpoint (nothing rolled up:
all raw), runs `manage.py prune_runs --older-than 7d` as a child process (wall time, peak RSS,
what it printed), times the same report again (rollups plus 7 days of raw runs), checks that
both reports agree, and prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000_000)
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--days", type=int, default=30, help="history seeded, and report window")
    parser.add_argument("--older-than", default="7d")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument(
        "--pg-url", default="postgres://postgres@127.0.0.1:5432/cronicorn_prune_bench"
    )
    return parser.parse_args()


def recreate_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-only",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "cronicorn.settings",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


def seed(endpoints: int, runs: int, days: int) -> list[int]:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from jobs.models import Endpoint, Job, Run

    owner = get_user_model().objects.create_user("bench")
    job = Job.objects.create(owner=owner, name="bench")
    Endpoint.objects.bulk_create(
        Endpoint(job=job, name=f"e{i}", url="http://127.0.0.1:9/", interval_seconds=60)
        for i in range(endpoints)
    )
    ids = sorted(job.endpoints.values_list("id", flat=True))
    now = timezone.now()
    step_ms = days * 86_400_000 / runs
    with transaction.atomic(), connection.cursor() as cursor:
        # Run g: endpoint g mod N, started evenly over the days, lateness 0-997 ms, duration
        # 5 ms to 3 s, one in 20 failing: each endpoint's runs are N steps apart (distinct slots).
        cursor.execute(
            f"""
            INSERT INTO {Run._meta.db_table} (endpoint_id, scheduled_for, started_at, finished_at,
                duration_ms, status, status_code, error, response_excerpt, attempt, source,
                is_synthetic)
            SELECT %s + g %% %s, s - (g %% 998) * interval '1 millisecond', s, s,
                   5 + (g * 7919) %% 3000,
                   CASE WHEN g %% 20 = 0 THEN 'failure' ELSE 'success' END,
                   200, '', '', 1, 'interval', false
            FROM generate_series(0::bigint, %s - 1) g,
                 LATERAL (SELECT %s + g * %s * interval '1 millisecond') t(s)
            """,
            [ids[0], endpoints, runs, now - timedelta(days=days), step_ms],
        )
        cursor.execute(f"ANALYZE {Run._meta.db_table}")
    return ids


def timed_report(ids: list[int], since: datetime, until: datetime) -> tuple[float, dict]:
    from monitoring.stats import endpoint_window_stats

    started = time.perf_counter()
    figures = endpoint_window_stats(ids, since, until)
    return round(time.perf_counter() - started, 3), figures


def table_mb(table: str) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s)", [table])
        return round(cursor.fetchone()[0] / 2**20, 1)


def main() -> None:
    args = parse_args()
    recreate_database(args.pg_url)
    env = setup_django(args.pg_url)
    from jobs.models import Run

    started = time.perf_counter()
    ids = seed(args.endpoints, args.runs, args.days)
    seed_seconds = round(time.perf_counter() - started, 1)
    table = Run._meta.db_table
    size_before = table_mb(table)
    from django.utils import timezone

    # One window for both reports (the prune takes minutes; the window must not move).
    until = timezone.now()
    since = until - timedelta(days=args.days)
    before_seconds, before = timed_report(ids, since, until)

    command = [
        sys.executable,
        "manage.py",
        "prune_runs",
        "--older-than",
        args.older_than,
        "--batch-size",
        str(args.batch_size),
    ]
    started = time.perf_counter()
    pruned = subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )
    prune_seconds = round(time.perf_counter() - started, 1)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    after_seconds, after = timed_report(ids, since, until)
    runs_before = sum(f.runs for f in before.values())
    print(
        json.dumps(
            {
                "runs_seeded": args.runs,
                "endpoints": args.endpoints,
                "days": args.days,
                "seed_seconds": seed_seconds,
                "runs_table_mb_before": size_before,
                "report_30d_seconds_before": before_seconds,
                "prune_command": " ".join(command[1:]),
                "prune_exit_code": pruned.returncode,
                "prune_seconds": prune_seconds,
                "prune_peak_rss_mb": round(peak_kb / 1024, 1),
                "prune_output_last_lines": pruned.stdout.strip().splitlines()[-3:],
                "prune_stderr": pruned.stderr.strip()[-500:],
                "runs_left": Run.objects.count(),
                "runs_table_mb_after_before_vacuum": table_mb(table),
                "report_30d_seconds_after": after_seconds,
                "report_runs_before": runs_before,
                "report_runs_after": sum(f.runs for f in after.values()),
                "reports_equal": before == after,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

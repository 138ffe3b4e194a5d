"""The embedded default: a real runscheduler process on a SQLite file runs endpoints, records
every request it sent, and exits 0 on SIGTERM (PostgreSQL has its own process tests)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from django.conf import settings

from tests.conftest import on_postgres
from tests.http_targets import TargetServer

pytestmark = pytest.mark.skipif(
    on_postgres(), reason="the SQLite run covers it; PostgreSQL has test_runscheduler_process"
)

SEED = """
from django.contrib.auth import get_user_model
from jobs.models import Endpoint, Job
owner = get_user_model().objects.create_user("alice")
job = Job.objects.create(owner=owner, name="billing")
for i in range(20):
    Endpoint.objects.create(job=job, name=f"e{i}", url=f"{URL}/e/{i}", interval_seconds=1)
"""


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_a_scheduler_on_sqlite_runs_records_and_stops_cleanly(tmp_path):
    database = tmp_path / "cronicorn.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "SCHEDULER_HEARTBEAT_SECONDS": "0.5",
    }
    with TargetServer() as target:
        manage(env, "migrate", "--verbosity", "0")
        manage(env, "shell", "-c", SEED.replace("{URL}", target.url("")))
        scheduler = subprocess.Popen(
            [sys.executable, "manage.py", "runscheduler", "--lease-seconds", "2"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while len(target.received) < 60 and time.monotonic() < deadline:
                time.sleep(0.1)
            scheduler.send_signal(signal.SIGTERM)
            output, _ = scheduler.communicate(timeout=30)
        finally:
            if scheduler.poll() is None:
                scheduler.kill()
        seen = target.slots()

    assert scheduler.returncode == 0, output[-2000:]
    assert sum(seen.values()) >= 60
    assert max(seen.values()) == 1
    with sqlite3.connect(database) as db:
        runs = db.execute("SELECT count(*), group_concat(DISTINCT status) FROM jobs_run").fetchone()
        leased = db.execute("SELECT count(*) FROM jobs_endpoint WHERE lease_owner_id IS NOT NULL")
        stopped = db.execute("SELECT stopped_at IS NOT NULL FROM jobs_schedulerworker")
        assert runs == (sum(seen.values()), "success")
        assert leased.fetchone() == (0,)
        assert stopped.fetchall() == [(1,)]

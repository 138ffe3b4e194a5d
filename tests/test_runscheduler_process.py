"""Real `manage.py runscheduler` processes on PostgreSQL: exactly once, kill -9, SIGTERM, and a
lost database connection.

The processes run with short bounds so the tests stay fast: a 2 s lease and a 0.5 s heartbeat,
so a dead worker's endpoints are claimed again within lease + heartbeat = 2.5 s (20 s + 5 s = 25 s
with the default settings).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from jobs.models import Endpoint, Job, Run, SchedulerWorker
from jobs.scheduling.clock import database_now
from jobs.scheduling.dispatch import slot_header
from jobs.scheduling.governor import PAUSED_FOREVER
from tests.http_targets import TargetServer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 2.0
HEARTBEAT_SECONDS = 0.5
RECOVERY_BOUND = LEASE_SECONDS + HEARTBEAT_SECONDS
BASE_DIR = Path(settings.BASE_DIR)


class Scheduler:
    """One runscheduler subprocess with its output in a file."""

    def __init__(self, log: Path, *options: str) -> None:
        db = settings.DATABASES["default"]
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        env = {
            **os.environ,
            # The pytest-django test database, which these tests commit to.
            "DATABASE_URL": f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "SCHEDULER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
            "SECRET_KEY": "tests-only-not-secret",
        }
        self.log = log
        self._out = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runscheduler",
                "--lease-seconds",
                str(LEASE_SECONDS),
                *options,
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._out.close()

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def schedulers(tmp_path) -> Iterator[Callable[..., Scheduler]]:
    started: list[Scheduler] = []

    def start(*options: str) -> Scheduler:
        scheduler = Scheduler(tmp_path / f"scheduler-{len(started)}.log", *options)
        started.append(scheduler)
        return scheduler

    yield start
    for scheduler in started:
        if scheduler.process.poll() is None:
            scheduler.process.kill()
            scheduler.process.wait(10)


@pytest.fixture
def target():
    with TargetServer() as server:
        yield server


def eventually(condition: Callable[[], bool], timeout: float, message: str) -> float:
    """Poll until `condition` holds; returns when it did (time.monotonic())."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)
    return time.monotonic()


def make_endpoints(job: Job, count: int, url: Callable[[int], str], **fields) -> list[Endpoint]:
    fields.setdefault("interval_seconds", 60)
    start = fields.pop("start", None) or database_now()
    return Endpoint.objects.bulk_create(
        Endpoint(
            job=job,
            name=f"e{i}",
            url=url(i),
            next_run_at=start,
            next_run_source="interval",
            **fields,
        )
        for i in range(count)
    )


def run_slots() -> Counter[tuple[str, str]]:
    return Counter(
        (f"/e/{endpoint_id}", slot_header(slot))
        for endpoint_id, slot in Run.objects.values_list("endpoint_id", "scheduled_for")
    )


def test_several_processes_run_every_slot_exactly_once(alice_job, target, schedulers):
    endpoints = make_endpoints(
        alice_job, 400, lambda i: "http://127.0.0.1/", interval_seconds=1, start=PAUSED_FOREVER
    )
    processes = [schedulers("--concurrency", "100", "--batch-size", "100") for _ in range(3)]
    eventually(lambda: SchedulerWorker.objects.count() == 3, 20, "the schedulers did not start")
    # Start the slots once every process is up, so that all of them compete from the first one.
    first_slot = database_now() + timedelta(seconds=1)
    for endpoint in endpoints:
        endpoint.url = target.url(f"/e/{endpoint.pk}")
        endpoint.next_run_at = first_slot
    Endpoint.objects.bulk_update(endpoints, ["url", "next_run_at"])
    eventually(lambda: Run.objects.count() >= 2400, 30, "the schedulers did not keep up")
    for scheduler in processes:
        scheduler.signal(signal.SIGTERM)
    codes = [scheduler.wait(15) for scheduler in processes]

    assert codes == [0, 0, 0], [s.output()[-2000:] for s in processes]
    seen = target.slots()
    recorded = run_slots()
    assert sum(recorded.values()) >= 2400
    assert max(seen.values()) == 1, "a slot was sent twice"
    assert seen == recorded, "every request has its run, and every run was a request"
    # No slot was skipped: each endpoint ran at first_slot, +1 s, +2 s, ... without a gap.
    by_endpoint: dict[int, list] = {}
    for endpoint_id, slot in Run.objects.order_by("scheduled_for").values_list(
        "endpoint_id", "scheduled_for"
    ):
        by_endpoint.setdefault(endpoint_id, []).append(slot)
    for slots in by_endpoint.values():
        assert slots == [first_slot + timedelta(seconds=n) for n in range(len(slots))]
    assert set(Run.objects.values_list("status", flat=True)) == {"success"}
    workers = Counter(Run.objects.values_list("worker_id", flat=True))
    assert len(workers) == 3, workers  # the work was shared
    assert not Endpoint.objects.filter(lease_owner__isnull=False).exists()
    assert SchedulerWorker.objects.filter(stopped_at__isnull=True).count() == 0
    lateness = sorted(Run.objects.values_list("started_at", "scheduled_for"))
    lateness = sorted((started - slot).total_seconds() * 1000 for started, slot in lateness)
    print(
        f"\nexactly once: {sum(recorded.values())} slots by 3 processes "
        f"(per worker {sorted(workers.values())}), 0 duplicates, 0 gaps; lateness ms "
        f"p50 {lateness[len(lateness) // 2]:.0f} p99 {lateness[int(len(lateness) * 0.99)]:.0f}"
    )


def test_a_killed_workers_runs_are_claimed_again_after_its_lease(alice_job, target, schedulers):
    # The first attempts hang long enough to be killed mid-run; the re-runs answer at once.
    endpoints = make_endpoints(alice_job, 10, lambda i: target.url(f"/slow-first?ms=8000&e={i}"))
    first = schedulers()
    second = schedulers()
    eventually(lambda: len(target.received) == 10, 15, "the runs did not start")
    eventually(lambda: SchedulerWorker.objects.count() == 2, 15, "the second worker did not start")
    # Longer than a lease: only the heartbeats keep the live runs from being claimed again.
    time.sleep(LEASE_SECONDS + 1)
    assert len(target.received) == 10, "a live run was claimed by another worker"
    held = Counter(Endpoint.objects.values_list("lease_owner_id", flat=True))
    victim, survivor = (
        (first, second) if held[_worker_id(first)] >= held[_worker_id(second)] else (second, first)
    )
    orphaned = held[_worker_id(victim)]
    assert orphaned > 0

    victim.process.kill()
    killed_at = time.monotonic()
    victim.wait(5)
    recovered_at = eventually(
        lambda: len(target.received) == 10 + orphaned, 10, "the orphaned runs were not re-run"
    )
    eventually(lambda: Run.objects.count() == 10, 15, "the runs were not recorded")
    survivor.signal(signal.SIGTERM)
    assert survivor.wait(15) == 0, survivor.output()[-2000:]

    recovery = recovered_at - killed_at
    assert recovery <= RECOVERY_BOUND + 1.0, recovery
    attempts = Counter(Run.objects.values_list("attempt", flat=True))
    assert attempts == Counter({1: 10 - orphaned, 2: orphaned})
    # Each re-run slot went out twice under one Idempotency-Key, and has one Run.
    keys = Counter(r.headers["Idempotency-Key"] for r in target.received)
    assert sorted(keys.values()) == [1] * (10 - orphaned) + [2] * orphaned
    assert Run.objects.values("endpoint").distinct().count() == len(endpoints)
    print(f"\nkill -9: {orphaned} runs re-claimed {recovery:.2f} s after the kill")


def _worker_id(scheduler: Scheduler) -> int:
    return SchedulerWorker.objects.get(pid=scheduler.process.pid).pk


def test_sigterm_drains_the_runs_in_flight_and_exits_0(alice_job, target, schedulers):
    make_endpoints(alice_job, 5, lambda i: target.url(f"/slow?ms=1500&e={i}"))
    scheduler = schedulers("--shutdown-timeout", "10")
    eventually(lambda: len(target.received) == 5, 15, "the runs did not start")
    scheduler.signal(signal.SIGTERM)
    started = time.monotonic()

    assert scheduler.wait(10) == 0, scheduler.output()[-2000:]

    assert time.monotonic() - started < 5
    assert "finishing" in scheduler.output()
    assert list(Run.objects.values_list("status", flat=True)) == ["success"] * 5
    assert not Endpoint.objects.filter(lease_owner__isnull=False).exists()
    assert SchedulerWorker.objects.get().stopped_at is not None


def test_past_the_shutdown_timeout_runs_are_recorded_as_interrupted(alice_job, target, schedulers):
    make_endpoints(alice_job, 3, lambda i: target.url(f"/slow?ms=8000&e={i}"))
    scheduler = schedulers("--shutdown-timeout", "0.5")
    eventually(lambda: len(target.received) == 3, 15, "the runs did not start")
    scheduler.signal(signal.SIGTERM)

    assert scheduler.wait(10) == 0, scheduler.output()[-2000:]

    runs = list(Run.objects.all())
    assert [run.status for run in runs] == ["error"] * 3
    assert all("interrupted" in run.error for run in runs)


def test_a_second_signal_stops_at_once(alice_job, target, schedulers):
    make_endpoints(alice_job, 2, lambda i: target.url(f"/slow?ms=8000&e={i}"))
    scheduler = schedulers("--shutdown-timeout", "30")
    eventually(lambda: len(target.received) == 2, 15, "the runs did not start")
    scheduler.signal(signal.SIGTERM)
    time.sleep(0.3)
    scheduler.signal(signal.SIGTERM)

    assert scheduler.wait(3) == 1
    assert "Stopped at once" in scheduler.output()


def test_it_survives_losing_its_database_connection(alice_job, target, schedulers):
    endpoints = make_endpoints(alice_job, 20, lambda i: "http://127.0.0.1/", interval_seconds=1)
    for endpoint in endpoints:
        endpoint.url = target.url(f"/e/{endpoint.pk}")
    Endpoint.objects.bulk_update(endpoints, ["url"])
    scheduler = schedulers()
    eventually(lambda: Run.objects.count() >= 20, 15, "the scheduler did not start")

    terminated = 0
    for _ in range(2):
        terminated += _terminate_scheduler_backends()
        time.sleep(1.5)
    before = Run.objects.count()
    eventually(lambda: Run.objects.count() >= before + 40, 10, "the scheduler did not recover")
    scheduler.signal(signal.SIGTERM)

    assert scheduler.wait(15) == 0, scheduler.output()[-2000:]
    assert terminated >= 2
    assert "database error" in scheduler.output()
    seen = target.slots()
    assert max(seen.values()) == 1
    assert seen == run_slots(), "a request went out without its run being recorded"


def _terminate_scheduler_backends() -> int:
    """What a PostgreSQL restart does to the scheduler, without touching the shared cluster."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'cronicorn-scheduler' AND datname = current_database()"
        )
        return cursor.fetchone()[0]

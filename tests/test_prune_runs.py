"""prune_runs deletes raw runs past retention only once their hours are rolled up, keeps long
reports unchanged, prunes old rollups, and runs beside a writing scheduler (frozen clock)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection
from django.utils import timezone
from freezegun import freeze_time

from jobs.models import Endpoint, Job, Run, SchedulerWorker
from monitoring import pruning, rollups
from monitoring.models import RunRollup
from monitoring.stats import endpoint_window_stats, synthetic_report
from tests.runs import record_run

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 20, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
CUTOFF = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # NOW - 7 days, to the hour


@pytest.fixture(autouse=True)
def retention(settings):
    settings.RUNS_RETENTION_DAYS = 7
    settings.ROLLUP_RETENTION_DAYS = 400
    settings.ROLLUP_DELAY_MINUTES = 60


@pytest.fixture
def history(alice_endpoint) -> Endpoint:
    """Ten days of runs, one every two hours, some failing, some slow and late."""
    for i in range(120):
        record_run(
            alice_endpoint,
            NOW - 10 * DAY + i * 2 * HOUR,
            duration_ms=20 + (i * 613) % 3000,
            late_ms=(i * 211) % 900,
            status=Run.Status.FAILURE if i % 9 == 0 else Run.Status.SUCCESS,
        )
    return alice_endpoint


def prune_command(*args: str) -> str:
    out = StringIO()
    call_command("prune_runs", *args, stdout=out)
    return out.getvalue()


@freeze_time(NOW)
def test_a_dry_run_says_what_it_would_delete_and_changes_nothing(history):
    output = prune_command("--dry-run")
    assert output.strip() == (
        "would delete 36 runs started before 2026-11-23 12:00 UTC and 0 hourly rollups before "
        "2025-10-26 (after rolling up 239 hours)"
    )
    assert Run.objects.count() == 120
    assert not RunRollup.objects.exists()


@freeze_time(NOW)
def test_it_deletes_runs_past_retention_once_their_hours_are_rolled_up(history):
    output = prune_command("--older-than", "7d")
    assert "deleted 36 runs started before 2026-11-23 12:00 UTC" in output
    assert not Run.objects.filter(started_at__lt=CUTOFF).exists()
    assert Run.objects.filter(started_at__gte=CUTOFF).count() == 84
    assert sum(RunRollup.objects.filter(hour__lt=CUTOFF).values_list("runs", flat=True)) == 36
    assert rollups.history().rolled_until == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)


@freeze_time(NOW)
def test_it_forgets_schedulers_gone_since_the_cut_off_and_keeps_live_ones(history):
    def worker(name: str, last_heartbeat: datetime) -> SchedulerWorker:
        return SchedulerWorker.objects.create(
            name=name, hostname="h", pid=1, started_at=last_heartbeat, heartbeat_at=last_heartbeat
        )

    worker("gone", NOW - 30 * DAY)
    worker("live", NOW)
    assert "and 1 scheduler worker row(s) silent since then" in prune_command("--dry-run")
    assert "and 1 scheduler worker row(s) silent since then" in prune_command()
    assert list(SchedulerWorker.objects.values_list("name", flat=True)) == ["live"]


@freeze_time(NOW)
def test_a_30_day_report_after_pruning_equals_the_one_before(history, alice):
    probe_job = Job.objects.create(owner=alice, name="probe", is_synthetic=True)
    probe = probe_job.endpoints.create(name="p", url="http://127.0.0.1:9/", interval_seconds=7200)
    for i in range(120):
        record_run(probe, NOW - 10 * DAY + i * 2 * HOUR + HOUR, duration_ms=5 + i, late_ms=i)
    ids = [history.id, probe.id]
    before = endpoint_window_stats(ids, NOW - 30 * DAY, NOW, include_synthetic=True)
    report_before = synthetic_report(30 * DAY, NOW).to_dict()
    prune_command()
    assert Run.objects.count() == 2 * 84
    assert endpoint_window_stats(ids, NOW - 30 * DAY, NOW, include_synthetic=True) == before
    assert synthetic_report(30 * DAY, NOW).to_dict() == report_before
    assert before[history.id].runs == 120
    assert before[history.id].successes == 120 - 14


@freeze_time(NOW)
def test_pruning_never_removes_an_hour_that_is_not_rolled_up(history, monkeypatch):
    real = rollups.roll_up_hour

    def failing(hour: datetime) -> int:
        if hour == CUTOFF - 2 * DAY:
            raise DatabaseError("disk full")
        return real(hour)

    monkeypatch.setattr(rollups, "roll_up_hour", failing)
    with pytest.raises(CommandError) as raised:
        prune_command()
    assert raised.value.returncode == 2
    assert Run.objects.count() == 120
    # The hours before the failure are rolled up (and stay so); the run resumes from there.
    assert rollups.history().rolled_until == CUTOFF - 2 * DAY
    monkeypatch.setattr(rollups, "roll_up_hour", real)
    prune_command()
    assert Run.objects.count() == 84
    assert sum(RunRollup.objects.values_list("runs", flat=True)) == 120


@freeze_time(NOW)
def test_runs_of_a_recent_hour_are_never_pruned(history, settings):
    settings.ROLLUP_DELAY_MINUTES = 8 * 24 * 60  # hours stay open longer than retention
    with pytest.raises(CommandError, match="may still be recorded") as raised:
        prune_command()
    assert raised.value.returncode == 2
    assert Run.objects.count() == 120


@freeze_time(NOW)
def test_rollups_are_kept_for_their_own_retention(history, settings):
    prune_command()
    settings.ROLLUP_RETENTION_DAYS = 9
    output = prune_command("--dry-run")
    assert "0 runs" in output and "12 hourly rollups before 2026-11-21" in output
    prune_command()
    assert RunRollup.objects.earliest("hour").hour == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert RunRollup.objects.count() == 120 - 12


@freeze_time(NOW)
def test_it_prints_progress_on_long_work(history, monkeypatch):
    monkeypatch.setattr(pruning, "PROGRESS_EVERY_SECONDS", 0)
    output = prune_command("--batch-size", "10")
    assert "deleted 10 runs of 36 (28%)" in output
    assert "deleted 36 runs of 36 (100%)" in output
    assert Run.objects.count() == 84


@pytest.mark.parametrize(
    "args, message",
    [
        (["--older-than", "2d"], "--older-than must be at least RUNS_RETENTION_DAYS=7d"),
        (["--older-than", "soon"], "--older-than 'soon' is not a duration"),
        (["--batch-size", "0"], "--batch-size must be between 1 and 50000"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(history, args, message):
    with pytest.raises(CommandError, match=message) as raised:
        prune_command(*args)
    assert raised.value.returncode == 2
    assert Run.objects.count() == 120


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_prune_while_the_scheduler_writes_loses_nothing_and_blocks_nothing(alice_endpoint):
    now = timezone.now()
    old = 20_000  # one run every 30 s, 7.5 to 14.5 days ago
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Run._meta.db_table} (endpoint_id, scheduled_for, started_at, finished_at,
                duration_ms, status, status_code, error, response_excerpt, attempt, source,
                is_synthetic)
            SELECT %s, t, t, t, 10 + g %% 500, CASE WHEN g %% 10 = 0 THEN 'failure' ELSE 'success' END,
                200, '', '', 1, 'interval', false
            FROM generate_series(1, %s) g, LATERAL (SELECT %s - g * interval '30 seconds') s(t)
            """,
            [alice_endpoint.id, old, now - timedelta(days=7, hours=12)],
        )
    written: list[int] = []
    waits: list[float] = []
    stop = threading.Event()

    def scheduler() -> None:
        # Records runs of the current hour, one transaction each, as claims.py would.
        try:
            while not stop.is_set():
                began = time.monotonic()
                started = timezone.now()
                run = record_run(alice_endpoint, started)
                waits.append(time.monotonic() - began)
                written.append(run.id)
                time.sleep(0.005)  # leave the GIL to the prune
        finally:
            connection.close()

    writer = threading.Thread(target=scheduler)
    writer.start()
    try:
        time.sleep(0.2)
        done = pruning.prune(timezone.now(), timedelta(days=7), batch_size=500)
        time.sleep(0.2)
    finally:
        stop.set()
        writer.join(timeout=10)
    assert done.runs == old
    assert len(written) > 20
    assert max(waits) < 0.5, f"an insert waited {max(waits):.2f}s"
    assert Run.objects.filter(id__in=written).count() == len(written)
    since = now - timedelta(days=30)
    figures = endpoint_window_stats([alice_endpoint.id], since, timezone.now() + HOUR)
    assert figures[alice_endpoint.id].runs == old + len(written)
    assert figures[alice_endpoint.id].failures == old // 10

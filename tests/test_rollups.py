"""Hourly rollups hold the same figures as the raw runs they sum, are kept incrementally and
idempotently, and serve long windows in endpoint_window_stats (frozen clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from django.db import connection
from freezegun import freeze_time

from jobs.models import Endpoint, Job, Run
from monitoring import rollups
from monitoring.models import RunRollup
from monitoring.rollups import BUCKET_BOUNDS_MS, bucket_of
from monitoring.stats import EndpointStats, endpoint_window_stats
from tests.runs import record_run

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
STATUSES = [Run.Status.SUCCESS] * 7 + [Run.Status.FAILURE, Run.Status.TIMEOUT, Run.Status.ERROR]


@pytest.fixture(autouse=True)
def retention(settings):
    settings.RUNS_RETENTION_DAYS = 7
    settings.ROLLUP_DELAY_MINUTES = 60


@pytest.fixture
def probe(alice) -> Endpoint:
    job = Job.objects.create(owner=alice, name="probe", is_synthetic=True)
    return job.endpoints.create(name="p", url="http://127.0.0.1:9/", interval_seconds=60)


def fill(endpoint: Endpoint, start: datetime, hours: int, per_hour: int, seed: int = 0) -> None:
    """Varied runs: durations from 1 ms to 40 s, lateness from -50 ms to 20 s, every status."""
    for hour in range(hours):
        for i in range(per_hour):
            n = seed + hour * per_hour + i
            record_run(
                endpoint,
                start + hour * HOUR + timedelta(seconds=(3600 // per_hour) * i + n % 7),
                duration_ms=1 + (n * 7919) % 40_000 if n % 3 else 1 + n % 20,
                late_ms=(n * 104_729) % 20_000 - 50,
                status=STATUSES[n % len(STATUSES)],
            )


def bucketed(values: list[int], percent: int) -> int:
    """Reference: the nearest-rank value's bucket upper bound, capped at the maximum."""
    ordered = sorted(values)
    value = ordered[(percent * len(ordered) + 99) // 100 - 1]
    bucket = bucket_of(value)
    bound = BUCKET_BOUNDS_MS[bucket] if bucket < len(BUCKET_BOUNDS_MS) else ordered[-1]
    return min(bound, ordered[-1])


def test_the_bucket_sql_agrees_with_python_at_every_bound():
    values = sorted({v for b in BUCKET_BOUNDS_MS for v in (b - 1, b, b + 1)} | {-5000, 10**10})
    rows = ", ".join(["(%s)"] * len(values))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH t(v) AS (VALUES {rows}) SELECT v, {rollups._bucket_sql('v')} FROM t ORDER BY v",
            values,
        )
        assert [(int(v), int(b)) for v, b in cursor.fetchall()] == [
            (v, bucket_of(v)) for v in values
        ]


def test_a_bucket_bound_overstates_any_value_in_its_bucket_by_less_than_ten_percent():
    # Bucket (a, b] reports b for values a + 1 .. b.
    assert max(b / (a + 1) for a, b in pairwise(BUCKET_BOUNDS_MS)) < 1.1
    assert BUCKET_BOUNDS_MS[:17] == tuple(range(17))  # exact up to 16 ms


@freeze_time(NOW)
def test_rollup_figures_equal_raw_figures_for_the_same_window(alice_endpoint, probe):
    start = NOW - 10 * HOUR
    fill(alice_endpoint, start, hours=6, per_hour=40)
    fill(probe, start, hours=6, per_hour=25, seed=3)
    assert rollups.roll_up(NOW) == 9  # 02:00 up to 11:00 (settled: ended an hour ago)

    ids = [alice_endpoint.id, probe.id]
    for since, until in ((start, start + 6 * HOUR), (start + HOUR, start + 2 * HOUR)):
        from_rollups = rollups.rollup_tallies(ids, since, until, include_synthetic=True)
        from_raw = rollups.raw_tallies(ids, since, until)
        exact = endpoint_window_stats(ids, since, until, include_synthetic=True)
        for endpoint_id in ids:
            figures = from_rollups[endpoint_id].to_stats(endpoint_id)
            assert figures == from_raw[endpoint_id].to_stats(endpoint_id)
            # Counts, rate, max and the last run are exact.
            same = ("runs", "successes", "failures", "timeouts", "errors", "max_duration_ms")
            for name in (*same, "last_run_at", "last_status"):
                assert getattr(figures, name) == getattr(exact[endpoint_id], name), name
            assert figures.success_rate == exact[endpoint_id].success_rate
            # Percentiles are the nearest-rank run's bucket bound, capped at the maximum.
            window = Run.objects.filter(
                endpoint_id=endpoint_id, started_at__gte=since, started_at__lt=until
            )
            durations = [run.duration_ms for run in window]
            lateness = [run.lateness_ms for run in window]
            assert figures.p50_duration_ms == bucketed(durations, 50)
            assert figures.p95_duration_ms == bucketed(durations, 95)
            assert figures.p95_lateness_ms == bucketed(lateness, 95)
            assert abs(figures.p95_duration_ms - exact[endpoint_id].p95_duration_ms) <= (
                0.1 * exact[endpoint_id].p95_duration_ms
            )


@freeze_time(NOW)
def test_it_keeps_user_and_synthetic_runs_of_an_endpoint_apart(alice_endpoint):
    fill(alice_endpoint, NOW - 3 * HOUR, hours=1, per_hour=10)
    alice_endpoint.job.is_synthetic = True
    alice_endpoint.job.save()
    record_run(alice_endpoint, NOW - 3 * HOUR + timedelta(minutes=59), duration_ms=5)
    rollups.roll_up(NOW)
    rows = RunRollup.objects.filter(endpoint=alice_endpoint).order_by("is_synthetic")
    assert [(row.is_synthetic, row.runs) for row in rows] == [(False, 10), (True, 1)]
    hour = NOW - 3 * HOUR
    user_only = rollups.rollup_tallies(
        [alice_endpoint.id], hour, hour + HOUR, include_synthetic=False
    )
    assert user_only[alice_endpoint.id].runs == 10


@freeze_time(NOW)
def test_roll_up_is_incremental_and_an_hour_recomputed_is_the_same(alice_endpoint):
    fill(alice_endpoint, NOW - 5 * HOUR, hours=5, per_hour=6)
    assert rollups.roll_up(NOW) == 4  # 07:00 to 10:00; 11:00 ended less than an hour ago
    assert rollups.history().rolled_until == NOW - HOUR
    assert rollups.roll_up(NOW) == 0
    before = list(RunRollup.objects.order_by("hour").values())
    with freeze_time(NOW + HOUR):
        assert rollups.roll_up(NOW + HOUR) == 1
    rollups.roll_up_hour(NOW - 5 * HOUR)
    after = list(RunRollup.objects.order_by("hour").values())
    strip = [{k: v for k, v in row.items() if k != "id"} for row in before]
    assert [{k: v for k, v in row.items() if k != "id"} for row in after[:4]] == strip
    assert len(after) == 5


@freeze_time(NOW)
def test_a_long_window_reads_rolled_hours_from_rollups_and_the_rest_raw(alice_endpoint):
    fill(alice_endpoint, NOW - 9 * 24 * HOUR, hours=9 * 24, per_hour=1)
    since = NOW - timedelta(days=8, minutes=30)  # beyond raw retention: hour resolution
    all_raw = endpoint_window_stats([alice_endpoint.id], since, NOW)[alice_endpoint.id]
    assert all_raw.runs == 8 * 24 + 1  # widened to the whole first hour
    rollups.roll_up(NOW)
    # The rollups are read instead of the runs: changing a run under a rolled-up hour shows
    # nothing, changing one in the hour not rolled up yet does.
    Run.objects.filter(started_at__lt=NOW - 2 * HOUR).update(status=Run.Status.ERROR)
    mixed = endpoint_window_stats([alice_endpoint.id], since, NOW)[alice_endpoint.id]
    assert mixed == all_raw
    Run.objects.filter(started_at__gte=NOW - HOUR).update(status=Run.Status.ERROR)
    assert endpoint_window_stats([alice_endpoint.id], since, NOW)[alice_endpoint.id].errors == (
        all_raw.errors + 1
    )


@freeze_time(NOW)
def test_a_window_inside_raw_retention_stays_exact(alice_endpoint):
    record_run(alice_endpoint, NOW - 30 * HOUR, duration_ms=1234, late_ms=77)
    rollups.roll_up(NOW)
    figures = endpoint_window_stats([alice_endpoint.id], NOW - 2 * 24 * HOUR, NOW)
    assert figures[alice_endpoint.id].p50_duration_ms == 1234  # not the bucket bound
    assert figures[alice_endpoint.id].p95_lateness_ms == 77


@freeze_time(NOW)
def test_endpoints_without_runs_get_empty_figures_over_long_windows(alice_endpoint):
    rollups.roll_up(NOW)
    since = NOW - timedelta(days=30)
    assert endpoint_window_stats([alice_endpoint.id], since, NOW) == {
        alice_endpoint.id: EndpointStats(alice_endpoint.id)
    }

"""Per-endpoint window figures come out of the database right, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.models import Endpoint, Job, Run
from monitoring.stats import EndpointStats, endpoint_window_stats
from tests.runs import record_run

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
HOUR_AGO = NOW - timedelta(hours=1)


def test_it_computes_counts_percentiles_lateness_and_the_last_run(alice_endpoint):
    # Durations 10, 20, ..., 200 ms and lateness 1..20 ms, one run a minute.
    for i in range(1, 21):
        status = Run.Status.FAILURE if i in (3, 7) else Run.Status.SUCCESS
        status = Run.Status.TIMEOUT if i == 11 else status
        record_run(
            alice_endpoint,
            HOUR_AGO + timedelta(minutes=i),
            duration_ms=10 * (21 - i),  # the slowest first: order must not matter
            late_ms=i,
            status=status,
        )
    stats = endpoint_window_stats([alice_endpoint.id], HOUR_AGO, NOW)[alice_endpoint.id]
    assert stats.runs == 20
    assert (stats.successes, stats.failures, stats.timeouts, stats.errors) == (17, 2, 1, 0)
    assert stats.success_rate == pytest.approx(0.85)
    assert stats.p50_duration_ms == 100  # nearest rank: the 10th of 20
    assert stats.p95_duration_ms == 190  # the 19th of 20
    assert stats.max_duration_ms == 200
    assert stats.p95_lateness_ms == 19
    assert stats.last_run_at == HOUR_AGO + timedelta(minutes=20)
    assert stats.last_status == Run.Status.SUCCESS


def test_one_run_is_its_own_percentiles(alice_endpoint):
    record_run(alice_endpoint, NOW - timedelta(minutes=5), duration_ms=42, late_ms=1500)
    stats = endpoint_window_stats([alice_endpoint.id], HOUR_AGO, NOW)[alice_endpoint.id]
    assert (stats.p50_duration_ms, stats.p95_duration_ms, stats.max_duration_ms) == (42, 42, 42)
    assert stats.p95_lateness_ms == 1500


def test_it_counts_only_runs_started_inside_the_window(alice_endpoint):
    record_run(alice_endpoint, HOUR_AGO - timedelta(seconds=1))
    record_run(alice_endpoint, HOUR_AGO)
    record_run(alice_endpoint, NOW - timedelta(microseconds=1))
    record_run(alice_endpoint, NOW)
    stats = endpoint_window_stats([alice_endpoint.id], HOUR_AGO, NOW)[alice_endpoint.id]
    assert stats.runs == 2


def test_endpoints_without_runs_get_empty_figures(alice_endpoint):
    assert endpoint_window_stats([alice_endpoint.id], HOUR_AGO, NOW) == {
        alice_endpoint.id: EndpointStats(alice_endpoint.id)
    }
    assert EndpointStats(alice_endpoint.id).success_rate is None
    assert endpoint_window_stats([], HOUR_AGO, NOW) == {}


def test_synthetic_runs_are_left_out_unless_asked_for(alice):
    job = Job.objects.create(owner=alice, name="probe", is_synthetic=True)
    probe = Endpoint.objects.create(
        job=job, name="health", url="https://example.com/health", interval_seconds=30
    )
    record_run(probe, NOW - timedelta(minutes=1))
    assert endpoint_window_stats([probe.id], HOUR_AGO, NOW)[probe.id].runs == 0
    with_synthetic = endpoint_window_stats([probe.id], HOUR_AGO, NOW, include_synthetic=True)
    assert with_synthetic[probe.id].runs == 1


def test_figures_are_per_endpoint(alice_endpoint, alice_job):
    other = alice_job.endpoints.create(
        name="other", url="https://example.com/other", interval_seconds=60
    )
    record_run(alice_endpoint, NOW - timedelta(minutes=2), duration_ms=5)
    record_run(other, NOW - timedelta(minutes=2), duration_ms=900, status=Run.Status.ERROR)
    record_run(other, NOW - timedelta(minutes=1), duration_ms=700)
    stats = endpoint_window_stats([alice_endpoint.id, other.id], HOUR_AGO, NOW)
    assert stats[alice_endpoint.id].runs == 1
    assert stats[alice_endpoint.id].max_duration_ms == 5
    assert (stats[other.id].runs, stats[other.id].errors) == (2, 1)
    assert stats[other.id].p50_duration_ms == 700
    assert stats[other.id].last_status == Run.Status.SUCCESS


def test_to_dict_is_json_ready(alice_endpoint):
    record_run(alice_endpoint, NOW - timedelta(minutes=1))
    data = endpoint_window_stats([alice_endpoint.id], HOUR_AGO, NOW)[alice_endpoint.id].to_dict()
    assert data["last_run_at"] == "2026-12-03T11:59:00+00:00"
    assert data["success_rate"] == 1.0

"""GET /metrics: Prometheus text with runs by status and synthetic flag, histograms, backlog and
workers, over a recent window; optionally behind a bearer token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError
from freezegun import freeze_time

from jobs.models import Endpoint, Job, Run, SchedulerWorker
from tests.runs import record_run

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def metrics_settings(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_WINDOW_SECONDS = 300
    settings.SCHEDULER_LIVENESS_SECONDS = 60


def samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def scrape(client, **headers) -> dict[str, float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(response.content.decode())


@freeze_time(NOW)
def test_it_reports_recent_runs_by_status_and_synthetic_flag(client, alice, alice_endpoint):
    probe_job = Job.objects.create(owner=alice, name="probe", is_synthetic=True)
    probe = Endpoint.objects.create(
        job=probe_job, name="health", url="https://example.com/h", interval_seconds=30
    )
    record_run(alice_endpoint, NOW - timedelta(minutes=1), duration_ms=40, late_ms=20)
    record_run(alice_endpoint, NOW - timedelta(minutes=2), duration_ms=300, late_ms=700)
    record_run(alice_endpoint, NOW - timedelta(minutes=3), status=Run.Status.TIMEOUT)
    record_run(probe, NOW - timedelta(minutes=1), duration_ms=5)
    record_run(alice_endpoint, NOW - timedelta(minutes=10))  # outside the 5-minute window

    got = scrape(client)
    assert got["cronicorn_up"] == 1
    assert got["cronicorn_metrics_window_seconds"] == 300
    assert got['cronicorn_recent_runs{status="success",synthetic="false"}'] == 2
    assert got['cronicorn_recent_runs{status="timeout",synthetic="false"}'] == 1
    assert got['cronicorn_recent_runs{status="error",synthetic="false"}'] == 0
    assert got['cronicorn_recent_runs{status="success",synthetic="true"}'] == 1
    duration = "cronicorn_run_duration_seconds"
    assert got[f'{duration}_bucket{{synthetic="false",le="0.05"}}'] == 1
    assert got[f'{duration}_bucket{{synthetic="false",le="0.25"}}'] == 2
    assert got[f'{duration}_bucket{{synthetic="false",le="0.5"}}'] == 3
    assert got[f'{duration}_bucket{{synthetic="false",le="+Inf"}}'] == 3
    assert got[f'{duration}_count{{synthetic="false"}}'] == 3
    assert got[f'{duration}_sum{{synthetic="false"}}'] == pytest.approx(0.44)
    assert got[f'{duration}_count{{synthetic="true"}}'] == 1
    lateness = "cronicorn_run_lateness_seconds"
    assert got[f'{lateness}_bucket{{synthetic="false",le="0.05"}}'] == 2
    assert got[f'{lateness}_bucket{{synthetic="false",le="0.5"}}'] == 2
    assert got[f'{lateness}_bucket{{synthetic="false",le="1.0"}}'] == 3
    assert got[f'{lateness}_sum{{synthetic="false"}}'] == pytest.approx(0.72)


@freeze_time(NOW)
def test_it_reports_the_due_backlog_and_live_workers(client, alice_job):
    for name, due_in in (("late", -90), ("due", 0), ("later", 60)):
        Endpoint.objects.create(
            job=alice_job, name=name, url="https://example.com/x", interval_seconds=60
        )
        Endpoint.objects.filter(name=name).update(next_run_at=NOW + timedelta(seconds=due_in))
    Endpoint.objects.filter(name="due").update(paused_until=NOW + timedelta(hours=1))
    for name, age in (("w1", 5), ("w2", 3600)):
        SchedulerWorker.objects.create(
            name=name,
            hostname="h",
            pid=1,
            started_at=NOW - timedelta(hours=2),
            heartbeat_at=NOW - timedelta(seconds=age),
        )
    got = scrape(client)
    assert got["cronicorn_due_endpoints"] == 1
    assert got["cronicorn_due_oldest_seconds"] == 90
    assert got["cronicorn_scheduler_live_workers"] == 1
    assert got["cronicorn_scheduler_heartbeat_age_seconds"] == 5


def test_every_family_has_help_and_type(client):
    text = client.get("/metrics").content.decode()
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    helps = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP")}
    assert names == helps
    assert {"cronicorn_recent_runs", "cronicorn_run_duration_seconds"} <= names


def test_a_token_protects_the_metrics(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3crét").status_code == 401
    assert scrape(client, HTTP_AUTHORIZATION="Bearer s3cret")["cronicorn_up"] == 1


def test_it_says_down_when_the_database_fails(client, monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("gone")

    monkeypatch.setattr("monitoring.metrics.run_window_groups", broken)
    assert scrape(client) == {"cronicorn_up": 0}

"""GET /api/health: 200 when the database answers and a scheduler heartbeats, else 503 and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError
from freezegun import freeze_time

from jobs.models import SchedulerWorker

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("liveness_60s")]

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def liveness_60s(settings):
    settings.SCHEDULER_LIVENESS_SECONDS = 60


def worker(name: str, heartbeat_age: float, stopped: bool = False) -> SchedulerWorker:
    return SchedulerWorker.objects.create(
        name=name,
        hostname="host-1",
        pid=1234,
        started_at=NOW - timedelta(hours=1),
        heartbeat_at=NOW - timedelta(seconds=heartbeat_age),
        stopped_at=NOW if stopped else None,
    )


@freeze_time(NOW)
def test_it_is_ok_with_a_fresh_heartbeat_and_needs_no_login(client):
    worker("w1", heartbeat_age=5)
    worker("w2", heartbeat_age=600)
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "scheduler": "ok",
        "live_workers": 1,
        "reasons": [],
        "time": "2026-12-03T12:00:00+00:00",
    }
    assert "no-cache" in response["Cache-Control"]


@freeze_time(NOW)
def test_it_is_unavailable_when_no_scheduler_ever_ran(client):
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"], body["scheduler"]) == (
        "unavailable",
        "ok",
        "unavailable",
    )
    assert "no scheduler has ever registered" in body["reasons"][0]


@freeze_time(NOW)
def test_it_is_unavailable_when_the_heartbeat_is_stale(client):
    worker("w1", heartbeat_age=61)
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["reasons"] == [
        "scheduler not running: the last heartbeat (w1) was 61s ago (limit 60s)"
    ]


@freeze_time(NOW)
def test_a_stopped_scheduler_is_not_alive_even_with_a_fresh_heartbeat(client):
    worker("w1", heartbeat_age=1, stopped=True)
    response = client.get("/api/health")
    assert response.status_code == 503
    assert "stopped" in response.json()["reasons"][0]


@freeze_time(NOW)
def test_it_is_unavailable_when_the_database_does_not_answer(client, monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr("monitoring.health.connection.cursor", broken)
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "unavailable"
    assert body["reasons"] == ["database unavailable: connection refused"]


def test_it_only_answers_get(client):
    assert client.post("/api/health").status_code == 405

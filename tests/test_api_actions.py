"""Endpoint actions: pause (until / indefinitely), resume, run now, hints, clear hints, reset
failures, next_runs and stats. Each goes through jobs.scheduling.control."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from jobs.models import Endpoint, Run
from jobs.scheduling.governor import PAUSED_FOREVER

pytest_plugins = ["tests.api_fixtures"]
pytestmark = pytest.mark.django_db


def post(client, endpoint, action, payload=None):
    return client.post(f"/api/endpoints/{endpoint.pk}/{action}/", payload)


def test_pause_without_until_pauses_indefinitely(alice_api, alice_endpoint):
    response = post(alice_api, alice_endpoint, "pause")
    assert response.status_code == 200
    assert response.json()["is_paused"] is True
    alice_endpoint.refresh_from_db()
    assert alice_endpoint.paused_until == PAUSED_FOREVER


def test_pause_until_a_time_and_resume(alice_api, alice_endpoint):
    until = timezone.now() + timedelta(hours=2)
    response = post(alice_api, alice_endpoint, "pause", {"until": until.isoformat()})
    assert response.status_code == 200
    alice_endpoint.refresh_from_db()
    assert alice_endpoint.paused_until == until
    assert alice_endpoint.next_run_at >= until
    resumed = post(alice_api, alice_endpoint, "resume")
    assert resumed.json()["is_paused"] is False
    alice_endpoint.refresh_from_db()
    assert alice_endpoint.paused_until is None


def test_a_pause_that_ends_in_the_past_is_refused(alice_api, alice_endpoint):
    response = post(alice_api, alice_endpoint, "pause", {"until": "2001-01-01T00:00:00Z"})
    assert response.status_code == 400
    assert response.json() == {"until": ["The pause must end in the future."]}


def test_run_now_is_accepted_and_requested_once(alice_api, alice_endpoint):
    first = post(alice_api, alice_endpoint, "run_now")
    assert first.status_code == 202
    requested = first.json()["run_requested_at"]
    assert requested is not None
    # A second click while the first is pending makes no second run.
    assert post(alice_api, alice_endpoint, "run_now").json()["run_requested_at"] == requested


def test_an_interval_hint_lives_for_its_ttl(alice_api, alice_endpoint):
    Endpoint.objects.filter(pk=alice_endpoint.pk).update(last_run_at=timezone.now())
    response = post(
        alice_api,
        alice_endpoint,
        "hints",
        {"interval_seconds": 10, "ttl_seconds": 600, "reason": "incident"},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["hint_interval_seconds"], body["hint_reason"]) == (10, "incident")
    assert body["hint_expires_at"] is not None
    alice_endpoint.refresh_from_db()
    assert alice_endpoint.next_run_source == "hint"


def test_a_one_shot_hint_and_clear_hints(alice_api, alice_endpoint):
    at = timezone.now() + timedelta(minutes=5)
    response = post(
        alice_api, alice_endpoint, "hints", {"next_run_at": at.isoformat(), "ttl_seconds": 3600}
    )
    assert response.status_code == 200, response.json()
    cleared = post(alice_api, alice_endpoint, "clear_hints")
    assert cleared.status_code == 200
    assert cleared.json()["hint_next_run_at"] is None
    assert cleared.json()["hint_expires_at"] is None


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"ttl_seconds": 60}, "non_field_errors", "Give a hint"),
        ({"interval_seconds": 5, "ttl_seconds": 60}, "non_field_errors", "the endpoint's clamps"),
        ({"interval_seconds": 7200, "ttl_seconds": 60}, "non_field_errors", "between 30 and 3600"),
        ({"interval_seconds": 60, "ttl_seconds": 10**8}, "non_field_errors", "ttl_seconds"),
        ({"interval_seconds": 60, "ttl_seconds": 0}, "ttl_seconds", "greater than or equal"),
        ({"interval_seconds": 60}, "ttl_seconds", "required"),
        ({"next_run_at": "2001-01-01T00:00:00Z", "ttl_seconds": 60}, "next_run_at", "future"),
        (
            {"next_run_at": "2099-01-01T00:00:00Z", "ttl_seconds": 60},
            "non_field_errors",
            "time to live",
        ),
        ({"interval_seconds": 60, "ttl_seconds": 60, "until": "x"}, "until", "Unknown field."),
    ],
)
def test_invalid_hints_are_refused(alice_api, alice_endpoint, payload, field, message):
    Endpoint.objects.filter(pk=alice_endpoint.pk).update(
        min_interval_seconds=30, max_interval_seconds=3600
    )
    response = post(alice_api, alice_endpoint, "hints", payload)
    assert response.status_code == 400
    assert message in str(response.json()[field]), response.json()
    alice_endpoint.refresh_from_db()
    assert alice_endpoint.hint_expires_at is None


def test_reset_failures(alice_api, alice_endpoint):
    Endpoint.objects.filter(pk=alice_endpoint.pk).update(failure_count=4)
    response = post(alice_api, alice_endpoint, "reset_failures")
    assert response.status_code == 200
    assert response.json()["failure_count"] == 0


def test_next_runs_are_given_in_the_endpoints_timezone(alice_api, alice_job):
    endpoint = Endpoint.objects.create(
        job=alice_job,
        name="morning",
        url="https://e.com/",
        cron="0 9 * * *",
        timezone="Asia/Tokyo",
    )
    response = alice_api.get(f"/api/endpoints/{endpoint.pk}/next_runs/?count=3")
    assert response.status_code == 200
    body = response.json()
    assert body["timezone"] == "Asia/Tokyo"
    times = [datetime.fromisoformat(t) for t in body["next_runs"]]
    assert len(times) == 3
    assert all(t.utcoffset() == timedelta(hours=9) and t.hour == 9 for t in times)
    assert times[1] - times[0] == timedelta(days=1)


def test_next_runs_count_is_bounded(alice_api, alice_endpoint):
    assert (
        alice_api.get(f"/api/endpoints/{alice_endpoint.pk}/next_runs/?count=0").status_code == 400
    )
    response = alice_api.get(f"/api/endpoints/{alice_endpoint.pk}/next_runs/?count=101")
    assert response.status_code == 400
    assert "count" in response.json()
    default = alice_api.get(f"/api/endpoints/{alice_endpoint.pk}/next_runs/").json()
    assert len(default["next_runs"]) == 10


def add_run(endpoint, minutes_ago, status, duration_ms, synthetic=False):
    started = timezone.now().astimezone(UTC) - timedelta(minutes=minutes_ago)
    return Run.objects.create(
        endpoint=endpoint, scheduled_for=started, started_at=started,
        finished_at=started + timedelta(milliseconds=duration_ms), duration_ms=duration_ms,
        status=status, source="interval", is_synthetic=synthetic,
    )  # fmt: skip


def test_stats_over_a_window_leave_synthetic_runs_out_unless_asked(alice_api, alice_endpoint):
    add_run(alice_endpoint, 10, "success", 100)
    add_run(alice_endpoint, 20, "success", 300)
    add_run(alice_endpoint, 30, "failure", 200)
    add_run(alice_endpoint, 40, "success", 900, synthetic=True)
    add_run(alice_endpoint, 60 * 30, "success", 5000)  # outside 24h
    url = f"/api/endpoints/{alice_endpoint.pk}/stats/"
    stats = alice_api.get(f"{url}?window=24h").json()
    assert (stats["runs"], stats["successes"], stats["failures"]) == (3, 2, 1)
    assert stats["success_rate"] == pytest.approx(2 / 3)
    assert (stats["p50_duration_ms"], stats["p95_duration_ms"]) == (200, 300)
    assert stats["include_synthetic"] is False
    with_synthetic = alice_api.get(f"{url}?window=24h&include_synthetic=true").json()
    assert with_synthetic["runs"] == 4
    assert alice_api.get(f"{url}?window=2d").json()["runs"] == 4


def test_stats_refuse_a_malformed_window(alice_api, alice_endpoint):
    response = alice_api.get(f"/api/endpoints/{alice_endpoint.pk}/stats/?window=forever")
    assert response.status_code == 400
    assert "not a duration" in response.json()["window"][0]

"""Operator controls: each one changes the configuration and replans an idle endpoint at once,
but leaves an endpoint in flight to the worker that holds it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Endpoint, Job, SchedulerWorker
from jobs.scheduling import control
from jobs.scheduling.governor import PAUSED_FOREVER

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker() -> SchedulerWorker:
    now = timezone.now()
    return SchedulerWorker.objects.create(
        name="w1", hostname="h", pid=1, started_at=now, heartbeat_at=now
    )


def test_a_new_interval_endpoint_is_due_at_once(alice_endpoint):
    assert alice_endpoint.next_run_at <= timezone.now()
    assert alice_endpoint.next_run_source == "interval"


def test_a_new_cron_endpoint_is_due_at_its_next_fire(alice_job):
    endpoint = alice_job.endpoints.create(
        name="nightly", url="https://example.com", cron="0 3 * * *"
    )
    assert endpoint.next_run_at > timezone.now()
    assert endpoint.next_run_at.hour == 3
    assert endpoint.next_run_source == "cron"


def test_pause_indefinitely_and_resume(alice_endpoint):
    paused = control.pause_endpoint(alice_endpoint)
    assert paused.paused_until == PAUSED_FOREVER
    assert paused.next_run_at == PAUSED_FOREVER
    resumed = control.resume_endpoint(paused)
    assert resumed.paused_until is None
    assert resumed.next_run_at <= timezone.now() + timedelta(seconds=1)


def test_pause_until_a_time_moves_the_next_run_to_it(alice_endpoint):
    until = timezone.now() + timedelta(hours=2)
    paused = control.pause_endpoint(alice_endpoint, until)
    assert paused.next_run_at == until
    assert paused.is_paused


def test_an_interval_hint_reschedules_an_idle_endpoint(alice_endpoint):
    Endpoint.objects.filter(pk=alice_endpoint.pk).update(last_run_at=timezone.now())
    hinted = control.set_hint(
        alice_endpoint, interval_seconds=5, ttl_seconds=600, reason="incident"
    )
    assert hinted.next_run_source == "hint"
    assert hinted.next_run_at - hinted.last_run_at == timedelta(seconds=5)
    assert hinted.hint_reason == "incident"
    assert hinted.hint_expires_at > timezone.now() + timedelta(seconds=590)


def test_clearing_hints_returns_to_the_baseline(alice_endpoint):
    Endpoint.objects.filter(pk=alice_endpoint.pk).update(last_run_at=timezone.now())
    control.set_hint(alice_endpoint, interval_seconds=5, ttl_seconds=600)
    cleared = control.clear_hints(alice_endpoint)
    assert cleared.hint_interval_seconds is None and cleared.hint_expires_at is None
    assert cleared.next_run_at - cleared.last_run_at == timedelta(seconds=60)
    assert cleared.next_run_source == "interval"


@pytest.mark.parametrize(
    ("hint", "message"),
    [
        ({"ttl_seconds": 60}, "Give a hint: interval_seconds, next_run_at, or both."),
        ({"interval_seconds": 5, "ttl_seconds": 0}, "ttl_seconds must be between 1 and 604800."),
        (
            {"interval_seconds": 5, "ttl_seconds": 10**7},
            "ttl_seconds must be between 1 and 604800.",
        ),
        (
            {"interval_seconds": 5, "ttl_seconds": 60},
            "The hint interval must be between 10 and 600 seconds (the endpoint's clamps).",
        ),
        (
            {"interval_seconds": 6000, "ttl_seconds": 60},
            "The hint interval must be between 10 and 600 seconds (the endpoint's clamps).",
        ),
    ],
)
def test_a_hint_outside_the_rules_is_refused_with_a_message(alice_endpoint, hint, message):
    Endpoint.objects.filter(pk=alice_endpoint.pk).update(
        min_interval_seconds=10, max_interval_seconds=600
    )
    alice_endpoint.refresh_from_db()
    with pytest.raises(
        control.ControlError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"
    ):
        control.set_hint(alice_endpoint, **hint)


def test_a_one_shot_hint_beyond_its_ttl_is_refused(alice_endpoint):
    with pytest.raises(control.ControlError, match="within the hint's time to live"):
        control.set_hint(
            alice_endpoint, next_run_at=timezone.now() + timedelta(hours=2), ttl_seconds=60
        )


def test_reset_failures_removes_the_backoff(alice_endpoint):
    now = timezone.now()
    Endpoint.objects.filter(pk=alice_endpoint.pk).update(failure_count=5, last_run_at=now)
    reset = control.reset_failures(alice_endpoint)
    assert reset.failure_count == 0
    assert reset.next_run_at - now == timedelta(seconds=60)


def test_run_now_asks_once_and_leaves_the_schedule_alone(alice_endpoint):
    before = alice_endpoint.next_run_at
    first = control.request_run_now(alice_endpoint)
    requested = first.run_requested_at
    assert requested is not None
    second = control.request_run_now(alice_endpoint)
    assert second.run_requested_at == requested
    assert second.next_run_at == before


def test_a_control_on_an_endpoint_in_flight_leaves_the_plan_to_its_worker(alice_endpoint, worker):
    slot = alice_endpoint.next_run_at
    Endpoint.objects.filter(pk=alice_endpoint.pk).update(
        lease_owner=worker, lease_until=timezone.now() + timedelta(seconds=20)
    )
    paused = control.pause_endpoint(alice_endpoint)
    assert paused.paused_until == PAUSED_FOREVER
    # The in-flight slot stays where it is: re-planning now could run it a second time.
    assert paused.next_run_at == slot


def test_pause_and_resume_a_job(alice_job):
    assert control.pause_job(alice_job).status == Job.Status.PAUSED
    assert control.resume_job(alice_job).status == Job.Status.ACTIVE


def test_a_schedule_edit_replans_from_the_last_run(alice_endpoint):
    now = timezone.now()
    Endpoint.objects.filter(pk=alice_endpoint.pk).update(last_run_at=now, interval_seconds=3600)
    alice_endpoint.refresh_from_db()
    replanned = control.schedule_endpoint(alice_endpoint)
    assert replanned.next_run_at - now == timedelta(seconds=3600)

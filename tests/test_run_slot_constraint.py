"""One run per endpoint and slot, enforced by the database on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from jobs.models import Run

pytestmark = pytest.mark.django_db

SLOT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def record(endpoint, slot: datetime) -> Run:
    return Run.objects.create(
        endpoint=endpoint,
        scheduled_for=slot,
        started_at=slot,
        finished_at=slot + timedelta(milliseconds=5),
        duration_ms=5,
        status=Run.Status.SUCCESS,
        status_code=200,
        source=Run.Source.INTERVAL,
    )


def test_a_second_run_for_the_same_slot_is_refused(alice_endpoint):
    record(alice_endpoint, SLOT)
    with pytest.raises(IntegrityError), transaction.atomic():
        record(alice_endpoint, SLOT)
    assert Run.objects.filter(endpoint=alice_endpoint).count() == 1


def test_other_slots_and_other_endpoints_are_independent(alice_endpoint, alice_job):
    other = alice_job.endpoints.create(
        name="other", url="https://example.com/other", interval_seconds=60
    )
    record(alice_endpoint, SLOT)
    record(alice_endpoint, SLOT + timedelta(minutes=1))
    record(other, SLOT)
    assert Run.objects.count() == 3


def test_the_database_refuses_an_endpoint_with_both_schedules(alice_job):
    with pytest.raises(IntegrityError), transaction.atomic():
        alice_job.endpoints.create(
            name="both", url="https://example.com", interval_seconds=60, cron="* * * * *"
        )

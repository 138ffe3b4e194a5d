"""Operator controls: pause, resume, run now, hints, failure reset. Used by the API and the admin.

Each control locks the endpoint row, writes its configuration and, when no worker holds the
endpoint, replans it at once. While a run is in flight the worker that leases the endpoint replans
it on completion from the configuration written here (its completion locks the same row), so an
operator's change is never overwritten by a run that started before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from jobs.models import Endpoint, Job
from jobs.scheduling.clock import database_now
from jobs.scheduling.governor import (
    PAUSED_FOREVER,
    Policy,
    ScheduleState,
    first_run,
    plan_next_run,
)

# Editing any of these moves the next run: the endpoint is replanned after the save.
SCHEDULE_FIELDS = frozenset(
    {
        "interval_seconds",
        "cron",
        "timezone",
        "min_interval_seconds",
        "max_interval_seconds",
        "paused_until",
    }
)


class ControlError(ValueError):
    """The request cannot be applied; the message is for the user."""


def save_endpoint(endpoint: Endpoint, changed_fields: Iterable[str]) -> Endpoint:
    """Save an operator's edit (admin or API): a new endpoint whole (Endpoint.save plans its first
    run), an existing one by the changed fields only, since the scheduler writes the state
    columns of the same row at any moment; then replan if the schedule changed."""
    if endpoint._state.adding:
        endpoint.save()
        return endpoint
    changed = set(changed_fields)
    if not changed:
        return endpoint
    endpoint.save(update_fields=[*sorted(changed), "updated_at"])
    return schedule_endpoint(endpoint) if changed & SCHEDULE_FIELDS else endpoint


def schedule_endpoint(endpoint: Endpoint) -> Endpoint:
    """Replan after the endpoint's schedule was edited."""
    return _change(endpoint)


def pause_endpoint(endpoint: Endpoint, until: datetime | None = None) -> Endpoint:
    """Pause until `until`, or indefinitely when it is None."""
    return _change(endpoint, paused_until=until or PAUSED_FOREVER)


def resume_endpoint(endpoint: Endpoint) -> Endpoint:
    return _change(endpoint, paused_until=None)


def reset_failures(endpoint: Endpoint) -> Endpoint:
    return _change(endpoint, failure_count=0)


def clear_hints(endpoint: Endpoint) -> Endpoint:
    return _change(
        endpoint,
        hint_interval_seconds=None,
        hint_next_run_at=None,
        hint_expires_at=None,
        hint_reason="",
    )


def set_hint(
    endpoint: Endpoint,
    *,
    interval_seconds: int | None = None,
    next_run_at: datetime | None = None,
    ttl_seconds: int,
    reason: str = "",
) -> Endpoint:
    """An interval hint replaces the baseline and a one-shot hint competes with it, both only for
    `ttl_seconds`; then the endpoint returns to its own schedule."""
    validate_hint(endpoint, interval_seconds, next_run_at, ttl_seconds)
    now = database_now()
    return _change(
        endpoint,
        hint_interval_seconds=interval_seconds,
        hint_next_run_at=next_run_at,
        hint_expires_at=now + timedelta(seconds=ttl_seconds),
        hint_reason=reason[:200],
    )


def validate_hint(
    endpoint: Endpoint,
    interval_seconds: int | None,
    next_run_at: datetime | None,
    ttl_seconds: int,
) -> None:
    if interval_seconds is None and next_run_at is None:
        raise ControlError("Give a hint: interval_seconds, next_run_at, or both.")
    max_ttl = settings.HINT_MAX_TTL_SECONDS
    if not 1 <= ttl_seconds <= max_ttl:
        raise ControlError(f"ttl_seconds must be between 1 and {max_ttl}.")
    if interval_seconds is not None:
        low = endpoint.min_interval_seconds or 1
        high = endpoint.max_interval_seconds
        if interval_seconds < low or (high is not None and interval_seconds > high):
            bounds = f"between {low} and {high}" if high else f"at least {low}"
            raise ControlError(
                f"The hint interval must be {bounds} seconds (the endpoint's clamps)."
            )
    if next_run_at is not None:
        horizon = database_now() + timedelta(seconds=ttl_seconds)
        if next_run_at > horizon:
            raise ControlError("next_run_at must fall within the hint's time to live.")


def request_run_now(endpoint: Endpoint) -> Endpoint:
    """Ask for one run outside the schedule (source manual); the schedule itself is untouched.
    A pending request is kept as it is, so repeated clicks make one run."""
    Endpoint.objects.filter(pk=endpoint.pk, run_requested_at__isnull=True).update(
        run_requested_at=database_now()
    )
    endpoint.refresh_from_db()
    return endpoint


def pause_job(job: Job) -> Job:
    """The claim skips the endpoints of a job that is not active."""
    return _set_job_status(job, Job.Status.PAUSED)


def resume_job(job: Job) -> Job:
    # Slots missed while paused are misfires: each endpoint runs once, spread, then resumes.
    return _set_job_status(job, Job.Status.ACTIVE)


def _set_job_status(job: Job, status: str) -> Job:
    Job.objects.filter(pk=job.pk).update(status=status)
    job.refresh_from_db()
    return job


def _change(endpoint: Endpoint, **configuration) -> Endpoint:
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        for field, value in configuration.items():
            setattr(locked, field, value)
        update_fields = [*configuration, "updated_at"]
        if locked.lease_owner_id is None:
            plan = replan(locked, database_now())
            locked.next_run_at, locked.next_run_source = plan.next_run_at, plan.source
            update_fields += ["next_run_at", "next_run_source"]
        locked.save(update_fields=update_fields)
    return locked


def replan(endpoint: Endpoint, now: datetime):
    """The plan for an endpoint that is not running: from its last run, or as a new endpoint."""
    state = ScheduleState.of(endpoint)
    policy = Policy.from_settings()
    if endpoint.last_run_at is None:
        return first_run(state, now, policy)
    return plan_next_run(state, endpoint.last_run_at, now, policy)

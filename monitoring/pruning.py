"""Pruning run history: raw runs past retention (after their hours are rolled up) and rollups
past theirs, deleted in small batches that never hold a long lock or rewrite the table; and the
rows of scheduler processes gone for as long."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction

from jobs.models import Run, SchedulerWorker
from monitoring import rollups
from monitoring.models import RunHistory, RunRollup

MAX_BATCH_SIZE = 50_000
PROGRESS_EVERY_SECONDS = 5.0


@dataclass(frozen=True)
class PrunePlan:
    """What a prune deletes: runs started before `runs_before` (whole hours), rollups of hours
    before `rollups_before`."""

    runs_before: datetime
    rollups_before: datetime
    runs: int
    rollups: int
    hours_to_roll_up: int
    workers: int = 0  # SchedulerWorker rows whose last heartbeat is before runs_before

    def describe(self, done: bool) -> str:
        verb = "deleted" if done else "would delete"
        return (
            f"{verb} {self.runs:,} runs started before {self.runs_before:%Y-%m-%d %H:%M} UTC "
            f"and {self.rollups:,} hourly rollups before {self.rollups_before:%Y-%m-%d} "
            f"({'rolled up' if done else 'after rolling up'} {self.hours_to_roll_up} hours)"
            + (
                f", and {self.workers:,} scheduler worker row(s) silent since then"
                if self.workers
                else ""
            )
        )


def plan_prune(now: datetime, older_than: timedelta) -> PrunePlan:
    """Check the cut-off and count what a prune would do; writes nothing.

    ValueError when `older_than` is shorter than raw retention (long-window reports read raw
    runs inside it) or reaches into hours that may still be recorded."""
    if older_than < timedelta(days=settings.RUNS_RETENTION_DAYS):
        raise ValueError(
            f"--older-than must be at least RUNS_RETENTION_DAYS={settings.RUNS_RETENTION_DAYS}d: "
            "reports read raw runs within it (lower the setting to keep less)"
        )
    runs_before = rollups.floor_hour(now - older_than)
    if runs_before > rollups.settled_until(now):
        raise ValueError("--older-than reaches into hours whose runs may still be recorded")
    rollups_before = rollups.floor_hour(now - timedelta(days=settings.ROLLUP_RETENTION_DAYS))
    rolled_until = RunHistory.objects.filter(pk=1).values_list("rolled_until", flat=True).first()
    if rolled_until is None:
        oldest = Run.objects.aggregate(oldest=models.Min("started_at"))["oldest"]
        rolled_until = rollups.floor_hour(oldest) if oldest else rollups.settled_until(now)
    pending = max(0, int((rollups.settled_until(now) - rolled_until) / rollups.HOUR))
    return PrunePlan(
        runs_before=runs_before,
        rollups_before=rollups_before,
        runs=Run.objects.filter(started_at__lt=runs_before).count(),
        rollups=RunRollup.objects.filter(hour__lt=rollups_before).count(),
        hours_to_roll_up=pending,
        workers=_gone_workers(runs_before).count(),
    )


def delete_in_batches(
    model: type[models.Model],
    column: str,
    before: datetime,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete the rows of `model` whose `column` is before `before`, oldest first, `batch_size`
    rows a transaction; returns how many. Each batch locks only its own rows, so writers of new
    rows never wait; the keyset on `column` keeps each batch an index range read, however many
    dead rows the previous batches left for vacuum."""
    deleted = 0
    since: datetime | None = None
    while True:
        with transaction.atomic():
            rows = model._default_manager.filter(**{f"{column}__lt": before})
            if since is not None:
                rows = rows.filter(**{f"{column}__gte": since})
            batch = list(rows.order_by(column).values_list("pk", column)[:batch_size])
            if not batch:
                return deleted
            # No model points at runs or rollups: Django deletes with one DELETE ... WHERE id IN.
            model._default_manager.filter(pk__in=[pk for pk, _ in batch]).delete()
        deleted += len(batch)
        since = batch[-1][1]
        if progress:
            progress(deleted)


def prune(
    now: datetime,
    older_than: timedelta,
    batch_size: int = 10_000,
    progress: Callable[[str], None] | None = None,
) -> PrunePlan:
    """Roll up every settled hour, then delete raw runs before the cut-off and old rollups.

    Safe alone and while the scheduler writes: no run is deleted before its hour is rolled up,
    and reports switch to rollups for those hours before the first delete."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}")
    plan = plan_prune(now, older_than)
    say = progress or (lambda _line: None)
    rollups.roll_up(now, say)
    # roll_up covered every settled hour and plan_prune keeps the cut-off among them; reports
    # read those hours from rollups (stats._long_window_stats) before the first delete.
    rolled_until = rollups.history().rolled_until
    if rolled_until is None or rolled_until < plan.runs_before:
        raise RuntimeError(f"runs are rolled up only until {rolled_until}: nothing deleted")

    started = last = time.monotonic()

    def report(deleted: int) -> None:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_EVERY_SECONDS:
            last = time.monotonic()
            rate = deleted / max(last - started, 1e-6)
            share = f" of {plan.runs:,} ({deleted / plan.runs:.0%})" if plan.runs else ""
            say(f"deleted {deleted:,} runs{share}, {rate:,.0f}/s")

    runs = delete_in_batches(Run, "started_at", plan.runs_before, batch_size, report)
    old_rollups = delete_in_batches(RunRollup, "hour", plan.rollups_before, batch_size)
    # One row per process start would pile up; a worker silent since the cut-off has no runs left.
    workers, _ = _gone_workers(plan.runs_before).delete()
    return PrunePlan(
        runs_before=plan.runs_before,
        rollups_before=plan.rollups_before,
        runs=runs,
        rollups=old_rollups,
        hours_to_roll_up=plan.hours_to_roll_up,
        workers=workers,
    )


def _gone_workers(before: datetime) -> models.QuerySet:
    return SchedulerWorker.objects.filter(heartbeat_at__lt=before)

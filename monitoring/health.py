"""Is the deployment alive? The database answers and a scheduler heartbeats.

Shared by GET /api/health, `manage.py smoke` and /metrics, so they agree on what "alive" means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import QuerySet
from django.utils import timezone

from jobs.models import SchedulerWorker


def database_error() -> str | None:
    """None when the database answers a trivial query, else why not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"database unavailable: {str(exc).strip() or type(exc).__name__}"
    return None


def live_workers(now: datetime | None = None) -> QuerySet[SchedulerWorker]:
    """Scheduler processes that have not stopped and heartbeat within SCHEDULER_LIVENESS_SECONDS."""
    now = now or timezone.now()
    fresh_after = now - timedelta(seconds=settings.SCHEDULER_LIVENESS_SECONDS)
    return SchedulerWorker.objects.filter(heartbeat_at__gte=fresh_after, stopped_at__isnull=True)


def scheduler_error(now: datetime | None = None) -> str | None:
    """None when a scheduler is alive, else what was seen instead."""
    now = now or timezone.now()
    if live_workers(now).exists():
        return None
    latest = SchedulerWorker.objects.order_by("-heartbeat_at").first()
    limit = settings.SCHEDULER_LIVENESS_SECONDS
    if latest is None:
        return "scheduler not running: no scheduler has ever registered (start runscheduler)"
    age = int((now - latest.heartbeat_at).total_seconds())
    if latest.stopped_at is not None:
        return f"scheduler not running: the last one ({latest.name}) stopped {age}s ago"
    return (
        f"scheduler not running: the last heartbeat ({latest.name}) was {age}s ago (limit {limit}s)"
    )


@dataclass(frozen=True)
class Health:
    database_ok: bool
    scheduler_ok: bool
    live_workers: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.database_ok and self.scheduler_ok

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "unavailable",
            "database": "ok" if self.database_ok else "unavailable",
            "scheduler": "ok" if self.scheduler_ok else "unavailable",
            "live_workers": self.live_workers,
            "reasons": self.reasons,
            "time": now.isoformat(),
        }


def check_health(now: datetime | None = None) -> Health:
    now = now or timezone.now()
    db_problem = database_error()
    if db_problem:
        # Without a database, the scheduler's liveness cannot be read either.
        return Health(database_ok=False, scheduler_ok=False, reasons=[db_problem])
    try:
        workers = live_workers(now).count()
        sched_problem = None if workers else scheduler_error(now)
    except DatabaseError as exc:  # migrations not applied, or the connection dropped just now
        return Health(database_ok=False, scheduler_ok=False, reasons=[f"database error: {exc}"])
    return Health(
        database_ok=True,
        scheduler_ok=sched_problem is None,
        live_workers=workers,
        reasons=[sched_problem] if sched_problem else [],
    )

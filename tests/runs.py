"""Test helper: write runs straight into the database, as the scheduler would record them."""

from __future__ import annotations

from datetime import datetime, timedelta

from jobs.models import Endpoint, Run


def record_run(
    endpoint: Endpoint,
    started_at: datetime,
    *,
    duration_ms: int = 100,
    late_ms: int = 0,
    status: str = Run.Status.SUCCESS,
    status_code: int | None = 200,
) -> Run:
    scheduled_for = started_at - timedelta(milliseconds=late_ms)
    return Run.objects.create(
        endpoint=endpoint,
        scheduled_for=scheduled_for,
        started_at=started_at,
        finished_at=started_at + timedelta(milliseconds=duration_ms),
        duration_ms=duration_ms,
        status=status,
        status_code=status_code,
        source=Run.Source.INTERVAL,
        is_synthetic=endpoint.job.is_synthetic,
    )

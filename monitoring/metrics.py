"""GET /metrics in the Prometheus text format (0.0.4), written by hand: a dozen series do not need
a client library.

Run figures cover runs started in the last METRICS_WINDOW_SECONDS (an index range on started_at,
so a scrape stays cheap however large the runs table grows). They are gauges over a sliding
window, not lifetime counters (pruning would make counters go backwards anyway): read the
histograms with histogram_quantile() directly, without rate().
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError

from jobs.models import Run, SchedulerWorker
from monitoring.health import live_workers
from monitoring.stats import RunGroup, due_backlog, run_window_groups

DURATION_BOUNDS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000)
LATENESS_BOUNDS_MS = (10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000)


def _labels(**labels: str) -> str:
    inner = ",".join(f'{name}="{value}"' for name, value in labels.items())
    return f"{{{inner}}}" if inner else ""


def _number(value: float) -> str:
    return repr(value) if isinstance(value, float) else str(value)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, **labels: str) -> None:
        self.lines.append(f"{name}{_labels(**labels)} {_number(value)}")

    def histogram(
        self,
        name: str,
        bounds_ms: Sequence[int],
        buckets: Sequence[int],
        count: int,
        sum_ms: int,
        **labels: str,
    ) -> None:
        for bound, value in zip(bounds_ms, buckets, strict=True):
            self.sample(f"{name}_bucket", value, **labels, le=_number(bound / 1000))
        self.sample(f"{name}_bucket", count, **labels, le="+Inf")
        self.sample(f"{name}_sum", sum_ms / 1000, **labels)
        self.sample(f"{name}_count", count, **labels)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _sum_columns(rows: Iterable[Sequence[int]], width: int) -> list[int]:
    totals = [0] * width
    for row in rows:
        totals = [a + b for a, b in zip(totals, row, strict=True)]
    return totals


def _write_runs(out: _Writer, groups: list[RunGroup], window: int) -> None:
    out.family("cronicorn_metrics_window_seconds", "gauge", "The window the run figures cover.")
    out.sample("cronicorn_metrics_window_seconds", window)
    out.family(
        "cronicorn_recent_runs",
        "gauge",
        "Runs started in the window, by status and synthetic flag.",
    )
    counts = {(g.status, g.is_synthetic): g.count for g in groups}
    for synthetic in (False, True):
        for status in Run.Status.values:
            out.sample(
                "cronicorn_recent_runs",
                counts.get((status, synthetic), 0),
                status=status,
                synthetic=str(synthetic).lower(),
            )
    histograms = (
        ("cronicorn_run_duration_seconds", DURATION_BOUNDS_MS, "Run duration", "duration"),
        (
            "cronicorn_run_lateness_seconds",
            LATENESS_BOUNDS_MS,
            "Run start minus its slot",
            "lateness",
        ),
    )
    for name, bounds, what, measure in histograms:
        out.family(name, "histogram", f"{what} of runs started in the window.")
        for synthetic in (False, True):
            mine = [g for g in groups if g.is_synthetic == synthetic]
            out.histogram(
                name,
                bounds,
                _sum_columns((getattr(g, f"{measure}_buckets") for g in mine), len(bounds)),
                sum(g.count for g in mine),
                sum(getattr(g, f"{measure}_sum_ms") for g in mine),
                synthetic=str(synthetic).lower(),
            )


def render_metrics(now: datetime) -> str:
    out = _Writer()
    out.family("cronicorn_up", "gauge", "1 when the database answered this scrape.")
    window = settings.METRICS_WINDOW_SECONDS
    try:
        groups = run_window_groups(
            now - timedelta(seconds=window), now, DURATION_BOUNDS_MS, LATENESS_BOUNDS_MS
        )
        due_count, oldest_due = due_backlog(now)
        workers = live_workers(now).count()
        latest = (
            SchedulerWorker.objects.order_by("-heartbeat_at")
            .values_list("heartbeat_at", flat=True)
            .first()
        )
    except DatabaseError:
        out.sample("cronicorn_up", 0)
        return out.text()
    out.sample("cronicorn_up", 1)
    _write_runs(out, groups, window)
    out.family("cronicorn_due_endpoints", "gauge", "Endpoints due now and not yet claimed.")
    out.sample("cronicorn_due_endpoints", due_count)
    out.family(
        "cronicorn_due_oldest_seconds",
        "gauge",
        "How long the longest-waiting due endpoint has waited.",
    )
    out.sample(
        "cronicorn_due_oldest_seconds",
        max(0.0, (now - oldest_due).total_seconds()) if oldest_due else 0.0,
    )
    out.family(
        "cronicorn_scheduler_live_workers",
        "gauge",
        "Scheduler processes with a heartbeat within SCHEDULER_LIVENESS_SECONDS.",
    )
    out.sample("cronicorn_scheduler_live_workers", workers)
    if latest is not None:
        out.family(
            "cronicorn_scheduler_heartbeat_age_seconds",
            "gauge",
            "Seconds since the most recent scheduler heartbeat.",
        )
        out.sample("cronicorn_scheduler_heartbeat_age_seconds", (now - latest).total_seconds())
    return out.text()

"""The admin dashboard: is Cronicorn healthy right now? Synthetic probes over 1 h and 24 h, a small
chart of each probe's last 24 hours, and the live scheduler workers.

Every figure comes from monitoring (stats, health), the queries synthetic_health uses, so the
dashboard and the command always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from jobs.models import SchedulerWorker
from monitoring.health import live_workers
from monitoring.stats import (
    EndpointCheck,
    EndpointStats,
    Report,
    endpoint_window_stats,
    synthetic_report,
)

SHORT_WINDOW = timedelta(hours=1)
LONG_WINDOW = timedelta(hours=24)
CHART_HOURS = 24
# The chart's drawing box, in SVG user units.
CHART_BAR_WIDTH = 8
CHART_HEIGHT = 40


@dataclass(frozen=True)
class Bar:
    """One hour of one probe: the bar's height is the number of runs (scaled to the busiest hour),
    its failed part is drawn on top of the successful part."""

    x: int
    ok_y: float
    ok_height: float
    failed_y: float
    failed_height: float
    title: str


@dataclass(frozen=True)
class ProbeRow:
    short: EndpointCheck
    long: EndpointCheck
    chart: list[Bar]


@dataclass(frozen=True)
class LiveWorker:
    worker: SchedulerWorker
    heartbeat_age_seconds: int


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    short_report: Report
    rows: list[ProbeRow]
    workers: list[LiveWorker]

    @property
    def verdict(self) -> str:
        # The window synthetic_health judges by default.
        return self.short_report.verdict.value

    @property
    def problems(self) -> list[str]:
        return self.short_report.problems


def hourly_stats(endpoint_ids: list[int], now: datetime) -> list[dict[int, EndpointStats]]:
    """Per hour, oldest first, the figures of each endpoint over the last CHART_HOURS hours."""
    start = now - timedelta(hours=CHART_HOURS)
    return [
        endpoint_window_stats(
            endpoint_ids,
            start + timedelta(hours=hour),
            start + timedelta(hours=hour + 1),
            include_synthetic=True,
        )
        for hour in range(CHART_HOURS)
    ]


def chart_bars(hours: list[EndpointStats], now: datetime) -> list[Bar]:
    busiest = max((stats.runs for stats in hours), default=0) or 1
    start = now - timedelta(hours=len(hours))
    bars = []
    for index, stats in enumerate(hours):
        total = CHART_HEIGHT * stats.runs / busiest
        failed = total * (stats.runs - stats.successes) / stats.runs if stats.runs else 0.0
        ok = total - failed
        begins = timezone.localtime(start + timedelta(hours=index)).strftime("%H:%M")
        if stats.runs:
            p95 = f", p95 {stats.p95_duration_ms} ms" if stats.p95_duration_ms is not None else ""
            title = f"from {begins}: {stats.runs} runs, {stats.success_rate:.0%} success{p95}"
        else:
            title = f"from {begins}: no runs"
        bars.append(
            Bar(
                x=index * CHART_BAR_WIDTH,
                ok_y=round(CHART_HEIGHT - ok, 2),
                ok_height=round(ok, 2),
                failed_y=round(CHART_HEIGHT - total, 2),
                failed_height=round(failed, 2),
                title=title,
            )
        )
    return bars


def build_dashboard(now: datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    short = synthetic_report(SHORT_WINDOW, now)
    long = synthetic_report(LONG_WINDOW, now)
    long_by_endpoint = {check.endpoint_id: check for check in long.checks}
    ids = [check.endpoint_id for check in short.checks]
    hours = hourly_stats(ids, now) if ids else []
    rows = [
        ProbeRow(
            short=check,
            long=long_by_endpoint[check.endpoint_id],
            chart=chart_bars([hour[check.endpoint_id] for hour in hours], now),
        )
        for check in short.checks
    ]
    workers = [
        LiveWorker(worker, max(0, int((now - worker.heartbeat_at).total_seconds())))
        for worker in live_workers(now).order_by("name")
    ]
    return Dashboard(now=now, short_report=short, rows=rows, workers=workers)


def dashboard_view(request: HttpRequest) -> HttpResponse:
    dashboard = build_dashboard()
    context = {
        **admin.site.each_context(request),
        "title": "Cronicorn dashboard",
        "dashboard": dashboard,
        "chart_width": CHART_HOURS * CHART_BAR_WIDTH,
        "chart_height": CHART_HEIGHT,
        "bar_width": CHART_BAR_WIDTH - 1,
    }
    return TemplateResponse(request, "admin/cronicorn/dashboard.html", context)

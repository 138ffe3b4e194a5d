"""The admin dashboard: synthetic probes over 1 h and 24 h, a 24-hour chart, live workers, and
the same green/amber/red verdict as synthetic_health."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.admin_views import CHART_HEIGHT, CHART_HOURS, build_dashboard, chart_bars
from jobs.models import Endpoint, Run, SchedulerWorker
from monitoring.stats import EndpointStats, synthetic_report
from synthetic.seeding import seed_synthetic_jobs
from tests.runs import record_run

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("admin:cronicorn_dashboard")


@pytest.fixture
def probes(settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.SYNTHETIC_FLAKY_FAILURE_RATE = 0.2
    seed_synthetic_jobs()
    return {e.name: e for e in Endpoint.objects.filter(job__is_synthetic=True)}


def feed(
    endpoint,
    now,
    *,
    every: timedelta,
    span: timedelta,
    status=Run.Status.SUCCESS,
    fail_every: int = 0,
):
    """Runs on the endpoint's cadence over `span` up to `now`; every `fail_every`-th one fails."""
    moment, count = now - span, 0
    while moment < now:
        count += 1
        failed = fail_every and count % fail_every == 0
        record_run(
            endpoint, moment, duration_ms=120, status=Run.Status.FAILURE if failed else status
        )
        moment += every


@pytest.fixture
def worker():
    now = timezone.now()
    return SchedulerWorker.objects.create(
        name="host-1-42", hostname="host-1", pid=42, started_at=now, heartbeat_at=now
    )


def healthy(probes, now):
    """Three hours of runs on cadence; flaky fails one run in five, as it is asked to."""
    for name, endpoint in probes.items():
        feed(
            endpoint,
            now,
            every=timedelta(seconds=endpoint.interval_seconds),
            span=timedelta(hours=3),
            fail_every=5 if name == "flaky" else 0,
        )


def test_with_every_probe_passing_the_dashboard_is_green(probes, worker):
    now = timezone.now()
    healthy(probes, now)
    dashboard = build_dashboard(now)
    assert dashboard.verdict == synthetic_report(timedelta(hours=1), now).verdict.value
    assert dashboard.verdict == "green"
    assert [row.short.endpoint_name for row in dashboard.rows] == [
        "echo",
        "flaky",
        "health",
        "slow",
    ]
    health = next(row for row in dashboard.rows if row.short.endpoint_name == "health")
    assert health.short.stats.runs == 120  # every 30 s for an hour
    assert health.long.stats.runs == 360  # the three hours there are
    assert health.long.stats.p95_duration_ms == 120
    assert [(w.worker.name, w.heartbeat_age_seconds) for w in dashboard.workers] == [
        ("host-1-42", 0)
    ]


def test_a_failing_probe_turns_the_dashboard_red_with_the_reason(probes, worker):
    now = timezone.now()
    healthy(probes, now)
    feed(
        probes["health"],
        now + timedelta(seconds=1),
        every=timedelta(seconds=30),
        span=timedelta(minutes=30),
        status=Run.Status.ERROR,
    )
    dashboard = build_dashboard(now + timedelta(seconds=2))
    assert dashboard.verdict == "red"
    assert any(p.startswith("synthetic-health/health: success") for p in dashboard.problems)


def test_without_runs_the_dashboard_is_red_and_says_why(probes):
    dashboard = build_dashboard()
    assert dashboard.verdict == "red"
    assert dashboard.workers == []
    assert "is the scheduler running?" in dashboard.problems[0]


def test_a_dead_worker_is_not_listed(probes):
    now = timezone.now()
    SchedulerWorker.objects.create(
        name="gone", hostname="h", pid=1, started_at=now, heartbeat_at=now - timedelta(hours=1)
    )
    assert build_dashboard(now).workers == []


def test_the_chart_has_one_bar_per_hour_with_failures_on_top():
    now = timezone.now()
    hours = [EndpointStats(1)] * (CHART_HOURS - 2) + [
        EndpointStats(1, runs=100, successes=100),
        EndpointStats(1, runs=50, successes=25, p95_duration_ms=300),
    ]
    bars = chart_bars(hours, now)
    assert len(bars) == CHART_HOURS
    assert bars[0].ok_height == 0 and bars[0].failed_height == 0
    assert bars[0].title.endswith("no runs")
    busiest, last = bars[-2], bars[-1]
    assert busiest.ok_height == CHART_HEIGHT and busiest.failed_height == 0
    assert last.ok_height == last.failed_height == CHART_HEIGHT / 4
    assert last.failed_y == CHART_HEIGHT / 2  # the failed part sits on the successful part
    assert last.title.endswith("50 runs, 50% success, p95 300 ms")
    assert bars[-1].x > bars[-2].x


def test_the_chart_follows_the_runs_of_each_hour(probes, worker):
    now = timezone.now()
    feed(probes["health"], now, every=timedelta(seconds=30), span=timedelta(hours=2))
    row = next(r for r in build_dashboard(now).rows if r.short.endpoint_name == "health")
    assert [bar.ok_height > 0 for bar in row.chart[-3:]] == [False, True, True]


def test_the_dashboard_page_shows_verdict_probes_chart_and_workers(admin_client, probes, worker):
    healthy(probes, timezone.now())
    page = admin_client.get(DASHBOARD)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="overall-verdict"' in html
    assert html.count('<tr class="probe">') == 4
    assert html.count('<svg class="chart"') == 4
    assert "host-1-42" in html
    assert "cdn" not in html.lower()


def test_the_dashboard_is_for_staff_only(client, alice):
    assert client.get(DASHBOARD).status_code == 302
    client.force_login(alice)
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))

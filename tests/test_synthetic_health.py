"""synthetic_health judges the synthetic jobs from their runs (frozen clock) and exits 0, 1 or 2."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError
from freezegun import freeze_time

from jobs.models import Endpoint, Job, Run
from monitoring.stats import Verdict, synthetic_report
from synthetic.seeding import seed_synthetic_jobs
from tests.runs import record_run

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def probes(settings) -> dict[str, Endpoint]:
    settings.SYNTHETIC_FLAKY_FAILURE_RATE = 0.2
    settings.SYNTHETIC_LATENESS_WARN_SECONDS = 10
    settings.ALERT_WEBHOOK_URL = ""
    seed_synthetic_jobs("http://127.0.0.1:8000")
    return {e.name: e for e in Endpoint.objects.select_related("job")}


def fill(
    endpoint: Endpoint,
    *,
    until: datetime = NOW,
    fail_every: int = 0,
    duration_ms: int = 20,
    late_ms: int = 50,
    failure_status: str = Run.Status.FAILURE,
) -> None:
    """One run per interval over the hour before `until`; every `fail_every`-th one fails."""
    step = timedelta(seconds=endpoint.interval_seconds)
    started, i = NOW - HOUR + step / 2, 0
    while started < until:
        i += 1
        failed = bool(fail_every) and i % fail_every == 0
        record_run(
            endpoint,
            started,
            duration_ms=duration_ms + i % 10,
            late_ms=late_ms,
            status=failure_status if failed else Run.Status.SUCCESS,
            status_code=500 if failed else 200,
        )
        started += step


def healthy(probes: dict[str, Endpoint]) -> None:
    for name, endpoint in probes.items():
        fill(endpoint, fail_every=5 if name == "flaky" else 0)


def run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("synthetic_health", *args, stdout=out, stderr=StringIO())
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


@freeze_time(NOW)
def test_a_healthy_deployment_passes_with_the_flaky_target_failing_as_asked(probes):
    healthy(probes)
    code, out = run("--json")
    assert code == 0
    report = json.loads(out)
    assert report["verdict"] == "green" and report["problems"] == []
    rows = {row["endpoint_name"]: row for row in report["endpoints"]}
    assert rows["health"]["runs"] == 120 and rows["health"]["success_rate"] == 1.0
    flaky = rows["flaky"]
    assert (flaky["runs"], flaky["successes"], flaky["failures"]) == (120, 96, 24)
    assert flaky["target_failure_rate"] == 0.2
    assert flaky["required_success_rate"] == pytest.approx(0.72 - 4 * (0.16 / 120) ** 0.5)
    assert rows["slow"]["runs"] == 60
    assert (rows["slow"]["p50_duration_ms"], rows["slow"]["p95_duration_ms"]) == (24, 29)
    assert rows["slow"]["max_duration_ms"] == 29
    assert rows["echo"]["p95_lateness_ms"] == 50
    assert rows["echo"]["last_run_at"] == "2026-12-03T11:59:30+00:00"
    assert rows["echo"]["last_status"] == "success"


@freeze_time(NOW)
def test_the_table_names_every_endpoint_and_the_verdict(probes):
    healthy(probes)
    code, out = run()
    assert code == 0
    assert "Synthetic health over the last 1h" in out and out.splitlines()[0].endswith("GREEN")
    for name in ("synthetic-health", "synthetic-echo", "synthetic-slow", "synthetic-flaky"):
        assert name in out


@freeze_time(NOW)
def test_it_fails_below_the_minimum_success_rate_and_says_which_and_why(probes):
    healthy(probes)
    Run.objects.filter(endpoint=probes["health"]).delete()
    fill(probes["health"], fail_every=5, failure_status=Run.Status.TIMEOUT)  # 80% < 90%
    code, out = run()
    assert code == 1
    assert (
        "- synthetic-health/health: success 80.0% over 120 runs is below the required 90.0%" in out
    )
    assert run("--min-success", "75")[0] == 0


@freeze_time(NOW)
def test_the_flaky_target_fails_the_check_when_failures_go_unrecorded(probes):
    healthy(probes)
    Run.objects.filter(endpoint=probes["flaky"]).update(status=Run.Status.SUCCESS)
    code, out = run()
    assert code == 1
    assert "only 0.0% failures recorded where 20% were asked for" in out


@freeze_time(NOW)
def test_the_flaky_target_fails_the_check_when_it_fails_far_more_than_asked(probes):
    healthy(probes)
    Run.objects.filter(endpoint=probes["flaky"]).delete()
    fill(probes["flaky"], fail_every=2)  # 50% failures where 20% were asked
    code, out = run()
    assert code == 1
    assert "synthetic-flaky/flaky: success 50.0% over 120 runs is below the required" in out


@freeze_time(NOW)
def test_it_fails_when_an_endpoint_has_not_run_within_its_interval(probes):
    healthy(probes)
    Run.objects.filter(endpoint=probes["health"]).delete()
    fill(probes["health"], until=NOW - timedelta(minutes=5))
    code, out = run()
    assert code == 1
    assert "- synthetic-health/health: last run 315s ago, expected every 30s" in out


@freeze_time(NOW)
def test_it_fails_when_one_endpoint_has_no_runs_at_all(probes):
    healthy(probes)
    Run.objects.filter(endpoint=probes["echo"]).delete()
    code, out = run()
    assert code == 1
    assert "synthetic-echo/echo: no runs in the window" in out


@freeze_time(NOW)
def test_high_lateness_is_amber_and_still_healthy(probes):
    healthy(probes)
    Run.objects.filter(endpoint=probes["slow"]).delete()
    fill(probes["slow"], late_ms=15_000)
    code, out = run("--json")
    assert code == 0
    report = json.loads(out)
    assert report["verdict"] == "amber"
    assert report["problems"] == ["synthetic-slow/slow: lateness p95 15.0s is above 10s"]


@freeze_time(NOW)
def test_paused_synthetic_jobs_are_not_judged(probes):
    healthy(probes)
    Run.objects.filter(endpoint=probes["echo"]).delete()
    Job.objects.filter(name="synthetic-echo").update(status=Job.Status.PAUSED)
    report = synthetic_report(HOUR, NOW, 0.9)
    assert [c.endpoint_name for c in report.checks] == ["flaky", "health", "slow"]
    assert report.verdict == Verdict.GREEN


@freeze_time(NOW)
def test_no_runs_in_the_window_is_exit_2(probes):
    code, out = run("--window", "30m")
    assert code == 2
    assert "no synthetic runs in the last 30m: is the scheduler running?" in out


@freeze_time(NOW)
def test_no_synthetic_jobs_is_exit_2():
    code, out = run()
    assert code == 2
    assert "run manage.py seed_synthetic" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "1 hour"], "--window '1 hour' is not a duration"),
        (["--window", "0m"], "--window '0m' is not a duration"),
        (["--min-success", "abc"], "--min-success 'abc' must be a percentage"),
        (["--min-success", "120"], "--min-success '120' must be a percentage"),
        (["--alert-webhook", "slack"], "must be an http(s) URL"),
    ],
)
def test_bad_input_is_exit_2_with_a_message(args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")) as exc:
        call_command("synthetic_health", *args)
    assert exc.value.returncode == 2


def test_bad_input_prints_one_line_and_no_traceback():
    result = subprocess.run(
        [sys.executable, "manage.py", "synthetic_health", "--window", "soon"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "CommandError: --window 'soon' is not a duration: use a positive whole number and a "
        "unit, like 90s, 30m, 1h or 7d"
    ]


def test_an_unreachable_database_is_exit_2_with_a_message(monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("could not connect to server")

    monkeypatch.setattr("monitoring.management.commands.synthetic_health.synthetic_report", broken)
    with pytest.raises(CommandError, match="database unavailable: could not connect") as exc:
        call_command("synthetic_health")
    assert exc.value.returncode == 2


@freeze_time(NOW)
def test_a_cron_probe_is_expected_at_its_cron_gap_and_backoff_stretches_the_gap(alice, settings):
    settings.SCHEDULER_BACKOFF_CAP_SECONDS = 3600
    job = Job.objects.create(owner=alice, name="probe", is_synthetic=True)
    cron = Endpoint.objects.create(
        job=job, name="cron", url="https://example.com/c", cron="*/5 * * * *"
    )
    backoff = Endpoint.objects.create(
        job=job, name="backoff", url="https://example.com/b", interval_seconds=30
    )
    Endpoint.objects.filter(pk=backoff.pk).update(failure_count=3)  # waits 30 s x 2**2
    record_run(cron, NOW - timedelta(minutes=10))
    record_run(backoff, NOW - timedelta(minutes=4))
    checks = {c.endpoint_name: c for c in synthetic_report(HOUR, NOW, 0.9).checks}
    assert checks["cron"].expected_interval_seconds == 300
    assert checks["cron"].verdict == Verdict.GREEN  # 10 min < 2 x 5 min + 30 s
    assert checks["backoff"].expected_interval_seconds == 120
    assert checks["backoff"].verdict == Verdict.GREEN  # 4 min < 2 x 2 min + 30 s
    Run.objects.filter(endpoint=cron).delete()
    record_run(cron, NOW - timedelta(minutes=15))
    checks = {c.endpoint_name: c for c in synthetic_report(HOUR, NOW, 0.9).checks}
    assert checks["cron"].reasons == ("last run 15m ago, expected every 5m",)

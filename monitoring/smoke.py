"""After a deploy: does the whole thing work? Database and migrations, the web app's health and
synthetic endpoints over HTTP, a live scheduler, and recent runs. Every check is timed, and
every network call has a timeout, so a smoke test always finishes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import requests
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from jobs.models import Run
from monitoring.health import database_error, scheduler_error
from monitoring.stats import format_duration


class CheckFailed(Exception):
    """A check did not pass; the message says what was seen."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float


def _database() -> str:
    problem = database_error()
    if problem:
        raise CheckFailed(problem)
    return f"{connection.vendor} answers"


def _migrations() -> str:
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
        raise CheckFailed(f"{len(pending)} migration(s) not applied: {names} (run migrate)")
    return "all applied"


def _http_ok(url: str, timeout: float) -> str:
    try:
        # (connect, read) timeouts: a dead host or a hung server both end the call in time.
        response = requests.get(url, timeout=(min(timeout, 3.0), timeout))
    except requests.RequestException as exc:
        raise CheckFailed(f"GET {url}: {type(exc).__name__}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or body.get("status") != "ok":
        reasons = "; ".join(body.get("reasons") or []) or response.text[:200].strip()
        raise CheckFailed(f"GET {url}: {response.status_code} {reasons}".rstrip())
    return f"GET {url}: 200 ok"


def _scheduler() -> str:
    problem = scheduler_error()
    if problem:
        raise CheckFailed(problem)
    return "a scheduler heartbeats"


def _recent_runs(max_age: timedelta) -> str:
    since = timezone.now() - max_age
    latest = (
        Run.objects.filter(started_at__gte=since)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
    ).first()  # the started_at index answers this without a scan
    if latest is None:
        raise CheckFailed(f"no run started in the last {format_duration(max_age)}")
    return f"latest run started {int((timezone.now() - latest).total_seconds())}s ago"


def _timed(name: str, check: Callable[[], str]) -> CheckResult:
    started = time.monotonic()
    try:
        detail, ok = check(), True
    except CheckFailed as exc:
        detail, ok = str(exc), False
    except DatabaseError as exc:
        detail, ok = f"database error: {exc}".strip(), False
    return CheckResult(name, ok, detail, time.monotonic() - started)


def run_smoke(base_url: str, max_run_age: timedelta, timeout: float = 5.0) -> list[CheckResult]:
    """Run every check (none is skipped when another fails, so one run shows all that is wrong)."""
    base = base_url.rstrip("/")
    checks: list[tuple[str, Callable[[], str]]] = [
        ("database", _database),
        ("migrations", _migrations),
        ("api health", lambda: _http_ok(f"{base}/api/health", timeout)),
        ("synthetic health", lambda: _http_ok(f"{base}/api/synthetic/health", timeout)),
        ("scheduler heartbeat", _scheduler),
        ("recent runs", lambda: _recent_runs(max_run_age)),
    ]
    return [_timed(name, check) for name, check in checks]


def render(results: list[CheckResult]) -> str:
    width = max(len(r.name) for r in results)
    lines = [
        f"{'PASS' if r.ok else 'FAIL'}  {r.name.ljust(width)}  {r.seconds * 1000:7.0f} ms  {r.detail}"
        for r in results
    ]
    passed = sum(r.ok for r in results)
    total = sum(r.seconds for r in results)
    lines.append(f"smoke: {passed} of {len(results)} checks passed in {total:.2f}s")
    return "\n".join(lines)

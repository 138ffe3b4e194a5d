"""Report queries over runs, computed in the database: per-endpoint window figures, the synthetic
report with its green/amber/red verdict, and the aggregates behind /metrics.

The single place for these figures: `synthetic_health`, the API's endpoint stats, the admin
dashboard and /metrics all call this module, so they always agree. Percentiles are nearest-rank
(the smallest value with at least p% of the runs at or below it), picked with window functions so
that SQLite and PostgreSQL give the same answer. A window starting before raw retention
(RUNS_RETENTION_DAYS) is read at hour resolution, rolled-up hours from the hourly rollups
(monitoring.rollups): exact counts, rates and maxima, percentiles at histogram-bucket resolution.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs.models import Endpoint, Job, Run
from jobs.scheduling.governor import Policy, ScheduleState, plan_next_run
from monitoring.models import RunHistory

# A probe may miss one slot (a restart, a slow claim) before it counts as stale: the last run
# must be no older than STALE_FACTOR expected gaps plus STALE_GRACE.
STALE_FACTOR = 2
STALE_GRACE = timedelta(seconds=30)
# How far an observed rate may stray from the asked one by chance: Z binomial standard
# deviations. At 4, a healthy deployment fails a check by bad luck about once in 30,000.
CHANCE_Z = 4.0


@dataclass(frozen=True)
class EndpointStats:
    """One endpoint's runs started in [since, until). Durations and lateness in milliseconds."""

    endpoint_id: int
    runs: int = 0
    successes: int = 0
    failures: int = 0  # answered with an unexpected status
    timeouts: int = 0
    errors: int = 0
    p50_duration_ms: int | None = None
    p95_duration_ms: int | None = None
    max_duration_ms: int | None = None
    p95_lateness_ms: int | None = None  # started_at - scheduled_for
    last_run_at: datetime | None = None
    last_status: str | None = None

    @property
    def success_rate(self) -> float | None:
        """Successes over runs, 0..1; None without runs."""
        return self.successes / self.runs if self.runs else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["success_rate"] = self.success_rate
        data["last_run_at"] = self.last_run_at.isoformat() if self.last_run_at else None
        return data


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _lateness_ms_sql(alias: str) -> str:
    """started_at - scheduled_for in whole milliseconds, for the engine in use."""
    started, scheduled = f"{alias}.{_q('started_at')}", f"{alias}.{_q('scheduled_for')}"
    if connection.vendor == "postgresql":
        return f"ROUND(EXTRACT(EPOCH FROM ({started} - {scheduled})) * 1000)::bigint"
    # SQLite stores datetimes as ISO text; julianday() reads them to the millisecond.
    return f"CAST(ROUND((julianday({started}) - julianday({scheduled})) * 86400000.0) AS INTEGER)"


def _db_datetime(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _to_datetime(value: Any) -> datetime | None:
    """A datetime read by raw SQL: aware on PostgreSQL; on SQLite ISO text in UTC, or a naive
    datetime when a plain column is read (sqlite3 converts declared datetime columns)."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    return parsed.replace(tzinfo=UTC) if parsed and parsed.tzinfo is None else parsed


def _rank(percent: int) -> str:
    # Nearest rank ceil(p * n / 100) in integer arithmetic.
    return f"({percent} * n + 99) / 100"


def _stats_sql(where: str) -> str:
    """Per endpoint, the figures of the runs `where` selects, in EndpointStats' field order."""
    runs = f"""
        SELECT r.{_q("endpoint_id")} AS endpoint_id, r.{_q("id")} AS id, r.{_q("status")} AS status,
               r.{_q("duration_ms")} AS duration_ms, r.{_q("started_at")} AS started_at,
               {_lateness_ms_sql("r")} AS lateness_ms
        FROM {_q(Run._meta.db_table)} r
        WHERE {where}
    """
    statuses = (Run.Status.SUCCESS, Run.Status.FAILURE, Run.Status.TIMEOUT, Run.Status.ERROR)
    # The statuses are code constants, not input: inlined, they keep the parameters in one place.
    counts = ", ".join(f"SUM(CASE WHEN status = '{s}' THEN 1 ELSE 0 END)" for s in statuses)
    if connection.vendor == "postgresql":
        # Ordered-set aggregates sort each endpoint's runs once: 20x faster than the window
        # functions below on 200 endpoints x 24 h. percentile_disc is nearest rank: same figures.
        return f"""
            WITH w AS ({runs})
            SELECT endpoint_id, COUNT(*), {counts},
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms),
                   percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms),
                   MAX(duration_ms),
                   percentile_disc(0.95) WITHIN GROUP (ORDER BY lateness_ms),
                   MAX(started_at),
                   (ARRAY_AGG(status ORDER BY started_at DESC, id DESC))[1]
            FROM w GROUP BY endpoint_id
        """
    # Portable form (SQLite has no ordered-set aggregates): rank the rows, pick the ranks.
    return f"""
        WITH w AS ({runs}),
        ranked AS (
            SELECT w.*,
                   COUNT(*) OVER (PARTITION BY endpoint_id) AS n,
                   ROW_NUMBER() OVER (PARTITION BY endpoint_id ORDER BY duration_ms) AS d_rank,
                   ROW_NUMBER() OVER (PARTITION BY endpoint_id ORDER BY lateness_ms) AS l_rank,
                   ROW_NUMBER() OVER (
                       PARTITION BY endpoint_id ORDER BY started_at DESC, id DESC
                   ) AS recency
            FROM w
        )
        SELECT endpoint_id, MAX(n), {counts},
               MAX(CASE WHEN d_rank = {_rank(50)} THEN duration_ms END),
               MAX(CASE WHEN d_rank = {_rank(95)} THEN duration_ms END),
               MAX(duration_ms),
               MAX(CASE WHEN l_rank = {_rank(95)} THEN lateness_ms END),
               MAX(started_at),
               MAX(CASE WHEN recency = 1 THEN status END)
        FROM ranked GROUP BY endpoint_id
    """


def endpoint_window_stats(
    endpoint_ids: Iterable[int],
    since: datetime,
    until: datetime,
    *,
    include_synthetic: bool = False,
) -> dict[int, EndpointStats]:
    """Figures for each endpoint over runs started in [since, until); every id gets an entry.

    Synthetic runs are left out unless `include_synthetic` (user-facing figures never show them).
    Within raw retention: one query through the (endpoint, started_at) index, exact figures.
    Beyond it: see `_long_window_stats`.
    """
    ids = sorted({int(i) for i in endpoint_ids})
    result = {endpoint_id: EndpointStats(endpoint_id) for endpoint_id in ids}
    if not ids:
        return result
    if _beyond_raw_retention(since):
        result.update(_long_window_stats(ids, since, until, include_synthetic))
        return result
    where = (
        f"r.{_q('endpoint_id')} IN ({', '.join(['%s'] * len(ids))})"
        f" AND r.{_q('started_at')} >= %s AND r.{_q('started_at')} < %s"
    )
    if not include_synthetic:
        where += f" AND r.{_q('is_synthetic')} = %s"
    sql = _stats_sql(where)
    params: list[Any] = [*ids, _db_datetime(since), _db_datetime(until)]
    if not include_synthetic:
        params.append(False)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            endpoint_id, runs, ok, failed, timed_out, errored, p50, p95, top, late95 = row[:10]
            result[endpoint_id] = EndpointStats(
                endpoint_id=endpoint_id,
                runs=int(runs),
                successes=int(ok),
                failures=int(failed),
                timeouts=int(timed_out),
                errors=int(errored),
                p50_duration_ms=p50,
                p95_duration_ms=p95,
                max_duration_ms=top,
                p95_lateness_ms=None if late95 is None else int(late95),
                last_run_at=_to_datetime(row[10]),
                last_status=row[11],
            )
    return result


def _beyond_raw_retention(since: datetime) -> bool:
    """Whether the window starts before raw retention (prune_runs never deletes a run inside
    it). Such a window is read the same way before and after pruning, so its figures hold."""
    return since < timezone.now() - timedelta(days=settings.RUNS_RETENTION_DAYS)


def _long_window_stats(
    ids: list[int], since: datetime, until: datetime, include_synthetic: bool
) -> dict[int, EndpointStats]:
    """Hour resolution: the window widens to whole UTC hours, so that its figures are the same
    whether an hour is read from rollups or from raw runs. Rolled-up hours come from rollups; the
    hours after the watermark from raw runs, bucketed the same way."""
    # monitoring.rollups builds on this module's SQL helpers, hence the late import.
    from monitoring import rollups

    since, until = rollups.floor_hour(since), rollups.ceil_hour(until)
    rolled_until = RunHistory.objects.filter(pk=1).values_list("rolled_until", flat=True).first()
    split = min(max(rolled_until or since, since), until)
    parts = []
    if since < split:
        parts.append(rollups.rollup_tallies(ids, since, split, include_synthetic=include_synthetic))
    if split < until:
        parts.append(rollups.raw_tallies(ids, split, until, include_synthetic=include_synthetic))
    tallies: dict[int, rollups.Tally] = {i: rollups.Tally() for i in ids}
    for part in parts:
        for endpoint_id, tally in part.items():
            tallies[endpoint_id].add(tally)
    return {endpoint_id: tally.to_stats(endpoint_id) for endpoint_id, tally in tallies.items()}


# --- The synthetic report -----------------------------------------------------------------------


class Verdict(StrEnum):
    GREEN = "green"  # every synthetic probe passes
    AMBER = "amber"  # they pass, but something is slow (lateness above the warning level)
    RED = "red"  # a probe fails, is stale, or there is no data


@dataclass(frozen=True)
class EndpointCheck:
    """One synthetic endpoint judged over the window."""

    job_id: int
    job_name: str
    endpoint_id: int
    endpoint_name: str
    expected_interval_seconds: int
    target_failure_rate: float  # what the endpoint asks of its target (flaky), else 0
    required_success_rate: float  # the bar after intended failures and chance, 0..1
    stats: EndpointStats
    verdict: Verdict
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "stats"}
        data["verdict"] = self.verdict.value
        data["reasons"] = list(self.reasons)
        return {**data, **self.stats.to_dict()}


@dataclass(frozen=True)
class Report:
    window: timedelta
    since: datetime
    until: datetime
    min_success: float  # 0..1
    checks: list[EndpointCheck] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return any(check.stats.runs for check in self.checks)

    @property
    def verdict(self) -> Verdict:
        return overall_verdict(self.checks)

    @property
    def problems(self) -> list[str]:
        """One line per reason a check is not green, or why there is nothing to judge."""
        if not self.checks:
            return ["no active synthetic endpoints: run manage.py seed_synthetic"]
        if not self.has_data:
            return [
                f"no synthetic runs in the last {format_duration(self.window)}: is the scheduler running?"
            ]
        return [
            f"{check.job_name}/{check.endpoint_name}: {reason}"
            for check in self.checks
            for reason in check.reasons
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_seconds": int(self.window.total_seconds()),
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "min_success_rate": self.min_success,
            "verdict": self.verdict.value,
            "has_data": self.has_data,
            "problems": self.problems,
            "endpoints": [check.to_dict() for check in self.checks],
        }


def overall_verdict(checks: Sequence[EndpointCheck]) -> Verdict:
    """The worst verdict of the checks; red when there is nothing to judge."""
    if not checks or not any(check.stats.runs for check in checks):
        return Verdict.RED
    verdicts = {check.verdict for check in checks}
    for verdict in (Verdict.RED, Verdict.AMBER):
        if verdict in verdicts:
            return verdict
    return Verdict.GREEN


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def target_failure_rate(endpoint: Endpoint) -> float:
    """The failure rate an endpoint asks of its target (?failure_rate=F in its URL), else 0."""
    values = parse_qs(urlsplit(endpoint.url).query).get("failure_rate", [])
    try:
        rate = float(values[-1]) if values else 0.0
    except ValueError:
        return 0.0
    return rate if 0 <= rate < 1 else 0.0


def expected_gap(endpoint: Endpoint, after: datetime) -> timedelta:
    """How long the schedule waits after a run at `after`: the governor's own plan, so cron
    gaps, live hints, failure backoff and min/max clamps all count."""
    plan = plan_next_run(ScheduleState.of(endpoint), after, after, Policy.from_settings())
    return plan.next_run_at - after


def judge(
    endpoint: Endpoint, stats: EndpointStats, min_success: float, now: datetime
) -> EndpointCheck:
    """Apply the synthetic_health rules to one endpoint's figures."""
    gap = expected_gap(endpoint, stats.last_run_at or now)
    rate = target_failure_rate(endpoint)
    reasons: list[str] = []
    verdict = Verdict.GREEN
    required = (1 - rate) * min_success
    if stats.runs == 0:
        reasons.append("no runs in the window")
        verdict = Verdict.RED
    else:
        # Intended failures are expected at `rate`; allow what chance alone explains.
        allowance = CHANCE_Z * math.sqrt(rate * (1 - rate) / stats.runs)
        required = max(0.0, required - allowance)
        success_rate = stats.success_rate or 0.0
        if success_rate < required:
            asked = f" ({min_success:.0%} of the {1 - rate:.0%} asked of it)" if rate else ""
            reasons.append(
                f"success {success_rate:.1%} over {stats.runs} runs is below the required "
                f"{required:.1%}{asked}"
            )
        recorded = stats.failures / stats.runs
        if rate and recorded < rate - allowance:
            reasons.append(
                f"only {recorded:.1%} failures recorded where {rate:.0%} were asked for: "
                "failures are not being tracked"
            )
        age = now - stats.last_run_at if stats.last_run_at else None
        stale_after = STALE_FACTOR * gap + STALE_GRACE
        if age is not None and age > stale_after:
            reasons.append(
                f"last run {format_duration(timedelta(seconds=int(age.total_seconds())))} ago, "
                f"expected every {format_duration(gap)}"
            )
        if reasons:
            verdict = Verdict.RED
        else:
            warn_ms = settings.SYNTHETIC_LATENESS_WARN_SECONDS * 1000
            if stats.p95_lateness_ms is not None and stats.p95_lateness_ms > warn_ms:
                reasons.append(
                    f"lateness p95 {stats.p95_lateness_ms / 1000:.1f}s is above "
                    f"{settings.SYNTHETIC_LATENESS_WARN_SECONDS:g}s"
                )
                verdict = Verdict.AMBER
    return EndpointCheck(
        job_id=endpoint.job_id,
        job_name=endpoint.job.name,
        endpoint_id=endpoint.id,
        endpoint_name=endpoint.name,
        expected_interval_seconds=int(gap.total_seconds()),
        target_failure_rate=rate,
        required_success_rate=required,
        stats=stats,
        verdict=verdict,
        reasons=tuple(reasons),
    )


def synthetic_endpoints(now: datetime) -> list[Endpoint]:
    """The synthetic endpoints that are expected to run: active job, not paused."""
    return list(
        Endpoint.objects.filter(job__is_synthetic=True, job__status=Job.Status.ACTIVE)
        .exclude(paused_until__gt=now)
        .select_related("job")
        .order_by("job__name", "name", "id")
    )


def synthetic_report(
    window: timedelta, now: datetime | None = None, min_success: float = 0.9
) -> Report:
    """Every active synthetic endpoint judged over runs started in [now - window, now).

    `min_success` is a fraction (0.9 for 90%). The verdict is the one synthetic_health exits by
    and the admin dashboard shows.
    """
    now = now or timezone.now()
    since = now - window
    endpoints = synthetic_endpoints(now)
    stats = endpoint_window_stats([e.id for e in endpoints], since, now, include_synthetic=True)
    checks = [judge(endpoint, stats[endpoint.id], min_success, now) for endpoint in endpoints]
    return Report(window=window, since=since, until=now, min_success=min_success, checks=checks)


# --- Aggregates for /metrics --------------------------------------------------------------------


@dataclass(frozen=True)
class RunGroup:
    """Runs of one status and synthetic flag in a window, with cumulative histogram counts
    (bucket i counts the runs at or below bound i)."""

    status: str
    is_synthetic: bool
    count: int
    duration_sum_ms: int
    duration_buckets: tuple[int, ...]
    lateness_sum_ms: int
    lateness_buckets: tuple[int, ...]


def run_window_groups(
    since: datetime,
    until: datetime,
    duration_bounds_ms: Sequence[int],
    lateness_bounds_ms: Sequence[int],
) -> list[RunGroup]:
    """Runs started in [since, until) by status and synthetic flag, in one query over the
    started_at index range (never a scan of the whole table)."""
    lateness = _lateness_ms_sql("r")
    duration = f"r.{_q('duration_ms')}"
    buckets = [f"SUM(CASE WHEN {duration} <= %s THEN 1 ELSE 0 END)" for _ in duration_bounds_ms]
    buckets += [f"SUM(CASE WHEN {lateness} <= %s THEN 1 ELSE 0 END)" for _ in lateness_bounds_ms]
    sql = f"""
        SELECT r.{_q("status")}, r.{_q("is_synthetic")}, COUNT(*), SUM({duration}), SUM({lateness}),
               {", ".join(buckets)}
        FROM {_q(Run._meta.db_table)} r
        WHERE r.{_q("started_at")} >= %s AND r.{_q("started_at")} < %s
        GROUP BY r.{_q("status")}, r.{_q("is_synthetic")}
    """
    params = [*duration_bounds_ms, *lateness_bounds_ms, _db_datetime(since), _db_datetime(until)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    split = 5 + len(duration_bounds_ms)
    return [
        RunGroup(
            status=row[0],
            is_synthetic=bool(row[1]),
            count=int(row[2]),
            duration_sum_ms=int(row[3] or 0),
            lateness_sum_ms=int(row[4] or 0),
            duration_buckets=tuple(int(v or 0) for v in row[5:split]),
            lateness_buckets=tuple(int(v or 0) for v in row[split:]),
        )
        for row in rows
    ]


def due_backlog(now: datetime) -> tuple[int, datetime | None]:
    """How many endpoints are due and unclaimed, and the oldest due time among them."""
    due = (
        Endpoint.objects.filter(
            next_run_at__lte=now, lease_owner__isnull=True, job__status=Job.Status.ACTIVE
        )
        .exclude(paused_until__gt=now)
        .order_by()
    )
    figures = due.aggregate(count=models.Count("id"), oldest=models.Min("next_run_at"))
    return figures["count"], figures["oldest"]

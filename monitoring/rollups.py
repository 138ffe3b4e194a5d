"""Hourly rollups of runs: computed incrementally behind a watermark, idempotent per hour, and read
back by `monitoring.stats.endpoint_window_stats` for windows that reach beyond raw retention.

Counts, success rates, maxima and the last run are exact. Durations and lateness are kept as
log-scale histograms (BUCKET_BOUNDS_MS), so percentiles over such a window are at bucket
resolution: the upper bound of the bucket holding the nearest-rank run, capped at the window's
maximum, computed the same way whether the runs come from rollups or raw rows.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction

from jobs.models import Run
from monitoring.models import RunHistory, RunRollup
from monitoring.stats import EndpointStats, _db_datetime, _lateness_ms_sql, _q, _to_datetime

HOUR = timedelta(hours=1)


def _bounds() -> tuple[int, ...]:
    # Exact to 16 ms, then 8 buckets per doubling (at most 9% wide) up to a day; above it, the max.
    bounds = list(range(17))
    step = 1
    while bounds[-1] < 86_400_000:
        bounds.append(max(bounds[-1] + 1, round(16 * 2 ** (step / 8))))
        step += 1
    return tuple(bounds)


# Inclusive upper bounds in ms: bucket i holds values in (BOUNDS[i-1], BOUNDS[i]]; bucket 0 holds
# everything at or below 0 (an early start), bucket len(BOUNDS) everything above the last bound.
# Changing them invalidates stored rollups: treat as a format.
BUCKET_BOUNDS_MS = _bounds()


def bucket_of(value_ms: int) -> int:
    return bisect.bisect_left(BUCKET_BOUNDS_MS, value_ms)


def _bucket_sql(column: str) -> str:
    """bucket_of(column) in SQL; the bounds are constants of this module, inlined."""
    if connection.vendor == "postgresql":
        # width_bucket counts the thresholds <= value: with bound + 1 that is the bounds < value.
        thresholds = ",".join(str(bound + 1) for bound in BUCKET_BOUNDS_MS)
        return f"width_bucket(({column})::bigint, '{{{thresholds}}}'::bigint[])"

    # SQLite: a binary search written as nested CASEs (8 comparisons a value).
    def search(low: int, high: int) -> str:
        if low == high:
            return str(low)
        middle = (low + high) // 2
        return (
            f"CASE WHEN {column} <= {BUCKET_BOUNDS_MS[middle]} THEN {search(low, middle)} "
            f"ELSE {search(middle + 1, high)} END"
        )

    return search(0, len(BUCKET_BOUNDS_MS))


def percentile_from_histogram(histogram: Counter[int], percent: int, top: int) -> int:
    """Nearest rank over the bucketed values: the bucket's upper bound, capped at `top` (the max)."""
    rank = (percent * sum(histogram.values()) + 99) // 100
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return min(BUCKET_BOUNDS_MS[bucket], top) if bucket < len(BUCKET_BOUNDS_MS) else top
    raise ValueError("empty histogram")


@dataclass
class Tally:
    """Mergeable figures of a set of runs: one rollup row, a raw range, or a whole window."""

    runs: int = 0
    successes: int = 0
    failures: int = 0
    timeouts: int = 0
    errors: int = 0
    max_duration_ms: int | None = None
    max_lateness_ms: int | None = None
    duration_histogram: Counter[int] = field(default_factory=Counter)
    lateness_histogram: Counter[int] = field(default_factory=Counter)
    last_run_at: datetime | None = None
    last_status: str | None = None

    def add(self, other: Tally) -> None:
        self.runs += other.runs
        self.successes += other.successes
        self.failures += other.failures
        self.timeouts += other.timeouts
        self.errors += other.errors
        self.max_duration_ms = _max(self.max_duration_ms, other.max_duration_ms)
        self.max_lateness_ms = _max(self.max_lateness_ms, other.max_lateness_ms)
        self.duration_histogram.update(other.duration_histogram)
        self.lateness_histogram.update(other.lateness_histogram)
        self.see_last(other.last_run_at, other.last_status)

    def see_last(self, at: datetime | None, status: str | None) -> None:
        if at is not None and (self.last_run_at is None or at > self.last_run_at):
            self.last_run_at, self.last_status = at, status

    def to_stats(self, endpoint_id: int) -> EndpointStats:
        if not self.runs:
            return EndpointStats(endpoint_id)
        top, late = self.max_duration_ms or 0, self.max_lateness_ms or 0
        return EndpointStats(
            endpoint_id=endpoint_id,
            runs=self.runs,
            successes=self.successes,
            failures=self.failures,
            timeouts=self.timeouts,
            errors=self.errors,
            p50_duration_ms=percentile_from_histogram(self.duration_histogram, 50, top),
            p95_duration_ms=percentile_from_histogram(self.duration_histogram, 95, top),
            max_duration_ms=self.max_duration_ms,
            p95_lateness_ms=percentile_from_histogram(self.lateness_histogram, 95, late),
            last_run_at=self.last_run_at,
            last_status=self.last_status,
        )


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


_STATUS_SUMS = ", ".join(
    f"SUM(CASE WHEN status = '{s}' THEN 1 ELSE 0 END)"
    for s in (Run.Status.SUCCESS, Run.Status.FAILURE, Run.Status.TIMEOUT, Run.Status.ERROR)
)


def _fold(rows: Sequence[Sequence[Any]], width: int) -> dict[Any, Tally]:
    """Rows of (key..., kind, bucket, count, 4 status sums, max duration, max lateness): kind "d"
    rows carry the counts and a duration bucket, kind "l" rows a lateness bucket."""
    tallies: dict[Any, Tally] = {}
    for row in rows:
        key = row[0] if width == 1 else (row[0], bool(row[1]))
        kind, bucket, n, ok, failed, timed_out, errored, top, late = row[width:]
        tally = tallies.get(key) or tallies.setdefault(key, Tally())
        if kind == "l":
            tally.lateness_histogram[int(bucket)] += int(n)
            continue
        tally.duration_histogram[int(bucket)] += int(n)
        tally.runs += int(n)
        tally.successes += int(ok)
        tally.failures += int(failed)
        tally.timeouts += int(timed_out)
        tally.errors += int(errored)
        tally.max_duration_ms = _max(tally.max_duration_ms, int(top))
        tally.max_lateness_ms = _max(tally.max_lateness_ms, int(late))
    return tallies


def raw_tallies(
    endpoint_ids: Sequence[int] | None,
    since: datetime,
    until: datetime,
    *,
    include_synthetic: bool = True,
    by_synthetic: bool = False,
) -> dict[Any, Tally]:
    """Tallies of the raw runs started in [since, until), per endpoint (or per endpoint and
    synthetic flag), histograms bucketed in the database: one grouped query and one for the last
    run, both over an index range."""
    where = f"r.{_q('started_at')} >= %s AND r.{_q('started_at')} < %s"
    params: list[Any] = [_db_datetime(since), _db_datetime(until)]
    if endpoint_ids is not None:
        where += f" AND r.{_q('endpoint_id')} IN ({', '.join(['%s'] * len(endpoint_ids))})"
        params += list(endpoint_ids)
    if not include_synthetic:
        where += f" AND r.{_q('is_synthetic')} = %s"
        params.append(False)
    key = "endpoint_id, is_synthetic" if by_synthetic else "endpoint_id"
    width = 2 if by_synthetic else 1
    same_flag = f" AND r.{_q('is_synthetic')} = t.is_synthetic" if by_synthetic else ""
    table = _q(Run._meta.db_table)
    sql = f"""
        WITH w AS (
            SELECT r.{_q("endpoint_id")} AS endpoint_id, r.{_q("is_synthetic")} AS is_synthetic,
                   r.{_q("status")} AS status, r.{_q("duration_ms")} AS duration_ms,
                   {_lateness_ms_sql("r")} AS lateness_ms
            FROM {table} r WHERE {where}
        ),
        b AS (
            SELECT w.*, {_bucket_sql("duration_ms")} AS d_bucket,
                   {_bucket_sql("lateness_ms")} AS l_bucket
            FROM w
        )
        SELECT {key}, 'd', d_bucket, COUNT(*), {_STATUS_SUMS}, MAX(duration_ms), MAX(lateness_ms)
        FROM b GROUP BY {key}, d_bucket
        UNION ALL
        SELECT {key}, 'l', l_bucket, COUNT(*), 0, 0, 0, 0, 0, 0
        FROM b GROUP BY {key}, l_bucket
    """
    # The last run: the newest start per key, the highest id among equal starts (as stats does).
    last_sql = f"""
        SELECT r.{_q("endpoint_id")}, r.{_q("is_synthetic")}, r.{_q("started_at")},
               r.{_q("id")}, r.{_q("status")}
        FROM {table} r
        JOIN (SELECT {key}, MAX(started_at) AS newest FROM {table} r WHERE {where} GROUP BY {key}) t
          ON r.{_q("endpoint_id")} = t.endpoint_id AND r.{_q("started_at")} = t.newest{same_flag}
        WHERE {where}
        ORDER BY r.{_q("id")}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        tallies = _fold(cursor.fetchall(), width)
        cursor.execute(last_sql, params + params)
        for endpoint_id, is_synthetic, started_at, _id, status in cursor.fetchall():
            tally = tallies.get((endpoint_id, bool(is_synthetic)) if by_synthetic else endpoint_id)
            if tally is not None:
                at = _to_datetime(started_at)
                # Rows come by id: among equal starts the highest id is seen last and wins.
                if tally.last_run_at is None or at >= tally.last_run_at:
                    tally.last_run_at, tally.last_status = at, status
    return tallies


def rollup_tallies(
    endpoint_ids: Sequence[int], since: datetime, until: datetime, *, include_synthetic: bool
) -> dict[int, Tally]:
    """Per endpoint, the sum of its rollups of the hours in [since, until) (hour-aligned), with
    the histograms merged in the database."""
    table = _q(RunRollup._meta.db_table)
    where = (
        f"r.{_q('endpoint_id')} IN ({', '.join(['%s'] * len(endpoint_ids))})"
        f" AND r.{_q('hour')} >= %s AND r.{_q('hour')} < %s"
    )
    params: list[Any] = [*endpoint_ids, _db_datetime(since), _db_datetime(until)]
    if not include_synthetic:
        where += f" AND r.{_q('is_synthetic')} = %s"
        params.append(False)
    tallies: dict[int, Tally] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT r.endpoint_id, SUM(runs), SUM(successes), SUM(failures), SUM(timeouts),
                   SUM(errors), MAX(max_duration_ms), MAX(max_lateness_ms)
            FROM {table} r WHERE {where} GROUP BY r.endpoint_id
            """,
            params,
        )
        for endpoint_id, n, ok, failed, timed_out, errored, top, late in cursor.fetchall():
            tallies[endpoint_id] = Tally(
                runs=int(n),
                successes=int(ok),
                failures=int(failed),
                timeouts=int(timed_out),
                errors=int(errored),
                max_duration_ms=int(top),
                max_lateness_ms=int(late),
            )
        each = "jsonb_each_text" if connection.vendor == "postgresql" else "json_each"
        for column, histogram in (("duration_histogram", "d"), ("lateness_histogram", "l")):
            cursor.execute(
                f"""
                SELECT r.endpoint_id, CAST(h.key AS INTEGER), SUM(CAST(h.value AS BIGINT))
                FROM {table} r, {each}(r.{_q(column)}) h
                WHERE {where} GROUP BY r.endpoint_id, CAST(h.key AS INTEGER)
                """,
                params,
            )
            for endpoint_id, bucket, n in cursor.fetchall():
                tally = tallies[endpoint_id]
                target = tally.duration_histogram if histogram == "d" else tally.lateness_histogram
                target[int(bucket)] += int(n)
        cursor.execute(
            f"""
            SELECT r.endpoint_id, r.last_run_at, r.last_status FROM {table} r
            JOIN (SELECT endpoint_id, MAX(last_run_at) AS newest FROM {table} r
                  WHERE {where} GROUP BY endpoint_id) t
              ON r.endpoint_id = t.endpoint_id AND r.last_run_at = t.newest
            WHERE {where}
            """,
            params + params,
        )
        for endpoint_id, at, status in cursor.fetchall():
            tallies[endpoint_id].see_last(_to_datetime(at), status)
    return tallies


# --- Maintaining the rollups ---------------------------------------------------------------------


def floor_hour(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(value: datetime) -> datetime:
    floor = floor_hour(value)
    return floor if floor == value else floor + HOUR


def settled_until(now: datetime) -> datetime:
    """The end of the newest hour that may be rolled up: ROLLUP_DELAY_MINUTES after it ended."""
    return floor_hour(now - timedelta(minutes=settings.ROLLUP_DELAY_MINUTES))


def history() -> RunHistory:
    """The watermark row (created on first use)."""
    return RunHistory.objects.get_or_create(pk=1)[0]


def roll_up_hour(hour: datetime) -> int:
    """Recompute the rollups of the runs started in [hour, hour + 1h); returns the rows written.
    Idempotent: the hour's old rows are replaced in the caller's transaction."""
    tallies = raw_tallies(None, hour, hour + HOUR, by_synthetic=True)
    RunRollup.objects.filter(hour=hour).delete()
    RunRollup.objects.bulk_create(
        [
            RunRollup(
                endpoint_id=endpoint_id,
                hour=hour,
                is_synthetic=is_synthetic,
                runs=t.runs,
                successes=t.successes,
                failures=t.failures,
                timeouts=t.timeouts,
                errors=t.errors,
                max_duration_ms=t.max_duration_ms,
                max_lateness_ms=t.max_lateness_ms,
                duration_histogram={str(k): v for k, v in sorted(t.duration_histogram.items())},
                lateness_histogram={str(k): v for k, v in sorted(t.lateness_histogram.items())},
                last_run_at=t.last_run_at,
                last_status=t.last_status,
            )
            for (endpoint_id, is_synthetic), t in tallies.items()
        ],
        batch_size=1000,
    )
    return len(tallies)


def roll_up(now: datetime, progress: Callable[[str], None] | None = None) -> int:
    """Roll up every settled hour not rolled up yet, oldest first, one transaction per hour that
    also moves the watermark (a crash loses nothing, two callers never do an hour twice).
    Returns the number of hours rolled up. The hourly prune timer calls it through prune_runs;
    the scheduler's housekeeping may call it too."""
    end = settled_until(now)
    done = 0
    while True:
        with transaction.atomic():
            state = RunHistory.objects.select_for_update().filter(pk=history().pk).get()
            hour = state.rolled_until
            if hour is None:
                oldest = Run.objects.aggregate(oldest=models.Min("started_at"))["oldest"]
                hour = floor_hour(oldest) if oldest else end
            if hour >= end:
                if state.rolled_until is None:
                    state.rolled_until = end
                    state.save(update_fields=["rolled_until"])
                return done
            roll_up_hour(hour)
            state.rolled_until = hour + HOUR
            state.save(update_fields=["rolled_until"])
        done += 1
        if progress and done % 24 == 0:
            progress(f"rolled up {done} hours, up to {state.rolled_until:%Y-%m-%d %H:00} UTC")

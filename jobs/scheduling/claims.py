"""All the scheduler's SQL: claim, lease, heartbeat, complete, defer and sweep.

Time is always the database's clock. Every write after the claim is fenced by the lease owner, so
a worker that lost its lease (it stalled, its lease expired, another worker took the endpoint)
can never overwrite newer state; the UNIQUE (endpoint, scheduled_for) constraint on runs is the
last guard of exactly-once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import DateTimeField
from django.db.models.expressions import RawSQL
from django.utils.dateparse import parse_datetime

from jobs.models import REQUEST_FIELDS, Endpoint, SchedulerWorker
from jobs.scheduling.clock import database_now
from jobs.scheduling.dispatch import Outcome
from jobs.scheduling.governor import Policy, ScheduleState, plan_next_run

logger = logging.getLogger("cronicorn.scheduler")

# An endpoint whose handling raised is tried again this much later, so it cannot crash-loop.
POISON_DELAY_SECONDS = 60

# What the worker needs to call a claimed endpoint.
CLAIM_FIELDS = (
    "id",
    *REQUEST_FIELDS,
    "cron",
    "next_run_at",
    "next_run_source",
    "run_requested_at",
    "slot_attempt",
    "job__signing_secret",
    "job__is_synthetic",
)
JSON_FIELDS = ("headers", "expected_status_codes")
# CLAIM_FIELDS as the PostgreSQL claim returns them (e: the endpoint, j: its job); JSON as text,
# which _json reads (binary jsonb would carry a version byte).
_RETURNED = tuple(
    f"j.{name.removeprefix('job__')}"
    if name.startswith("job__")
    else f"e.{name}::text"
    if name in JSON_FIELDS
    else f"e.{name}"
    for name in CLAIM_FIELDS
)
# What completion needs to plan the next run, read fresh under the row lock.
PLAN_FIELDS = ("id", "next_run_source", "next_run_at", *ScheduleState.__dataclass_fields__)

RUN_COLUMNS = (
    "endpoint_id",
    "scheduled_for",
    "started_at",
    "finished_at",
    "duration_ms",
    "status",
    "status_code",
    "error",
    "response_excerpt",
    "attempt",
    "source",
    "worker_id",
    "is_synthetic",
)
# The PostgreSQL types of RUN_COLUMNS, for INSERT ... SELECT FROM unnest(arrays) (binary).
RUN_ARRAYS = (
    "%b::bigint[], %b::timestamptz[], %b::timestamptz[], %b::timestamptz[], %b::integer[], "
    "%b::text[], %b::integer[], %b::text[], %b::text[], %b::integer[], %b::text[], "
    "%b::bigint[], %b::boolean[]"
)
MAX_ATTEMPT = 32767  # Run.attempt is a small integer


@dataclass(frozen=True)
class Slot:
    """One claimed call: which endpoint, for which slot, why, and which attempt."""

    endpoint_id: int
    scheduled_for: datetime
    source: str
    attempt: int
    manual: bool
    is_synthetic: bool


@dataclass(frozen=True)
class Completion:
    """One finished call, waiting to be recorded."""

    slot: Slot
    outcome: Outcome


@dataclass(frozen=True)
class Deferral:
    """Move a leased endpoint's next run and give the lease back, without a run."""

    endpoint_id: int
    next_run_at: datetime
    source: str
    # A manual request is dropped only if it is still this one (a newer click survives).
    clear_request: datetime | None = None


def _postgres() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def _binary_cursor() -> Iterator[Any]:
    """PostgreSQL: a cursor that sends parameters and takes results in binary, bound on the
    server. Django's cursor quotes every array element into the query text in Python (about a
    third of the main thread's CPU at saturation); this one dumps a batch several times faster.
    It follows the connection's prepare_threshold (Django: never prepare, so poolers in
    transaction mode still work). Errors still surface as Django's."""
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


# SQLite keeps Django's text timestamps ("2026-12-03 12:00:00.123456") and compares them as text,
# so its clock is written with the same six fractional digits (strftime gives three). The %% are
# Django's escapes: every statement using it passes a parameter list (possibly empty), so the
# backend turns them back into %, and DEBUG's query log can format the statement.
_SQLITE_NOW = "(strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now'{}) || '000')"


def _now() -> str:
    # statement_timestamp(), not now(): inside a transaction now() stands still. It is stable
    # (unlike clock_timestamp()), so the planner can use it as an index bound.
    return "statement_timestamp()" if _postgres() else _SQLITE_NOW.format("")


def _now_plus(seconds: float) -> tuple[str, list[Any]]:
    if _postgres():
        return "statement_timestamp() + %s * interval '1 second'", [seconds]
    return _SQLITE_NOW.format(", %s"), [f"+{seconds} seconds"]


def _db_datetime(value: datetime | None) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _sqlite_value(value: Any) -> Any:
    return _db_datetime(value) if isinstance(value, datetime) else value


def _as_datetime(value: Any) -> datetime:
    """A timestamp read by raw SQL: aware on PostgreSQL, text on SQLite."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- Workers -----------------------------------------------------------------------------------


def register_worker(name: str, hostname: str, pid: int) -> int:
    now = database_now()
    worker = SchedulerWorker.objects.create(
        name=name, hostname=hostname, pid=pid, started_at=now, heartbeat_at=now
    )
    return worker.pk


def stop_worker(worker_id: int) -> None:
    SchedulerWorker.objects.filter(pk=worker_id).update(stopped_at=database_now())


def heartbeat(worker_id: int, endpoint_ids: Collection[int], lease_seconds: float) -> int:
    """Refresh the worker row and extend the leases of the runs it has in flight; returns how
    many it still holds.

    Only the leases the worker knows of: a claim whose answer was lost with the connection
    leased rows the worker never saw, and those must expire rather than be kept alive forever.
    """
    lease_until, params = _now_plus(lease_seconds)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE jobs_schedulerworker SET heartbeat_at = {_now()} WHERE id = %s",
                [worker_id],
            )
        if not endpoint_ids:
            return 0
        # Locked in id order first, like complete() does on the recorder thread's connection:
        # an UPDATE alone locks in scan order, and the two could deadlock.
        held = list(
            Endpoint.objects.select_for_update()
            .filter(lease_owner_id=worker_id, id__in=endpoint_ids)
            .order_by("id")
            .values_list("id", flat=True)
        )
        return Endpoint.objects.filter(id__in=held).update(lease_until=RawSQL(lease_until, params))


def sweep() -> int:
    """Free the leases that were not renewed in time: their worker died or lost the database.
    slot_attempt stays, so the slot is sent again as the next attempt."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_endpoint SET lease_owner_id = NULL, lease_until = NULL "
            f"WHERE lease_owner_id IS NOT NULL AND lease_until < {_now()}",
            [],
        )
        return cursor.rowcount


def release_unstarted(worker_id: int) -> int:
    """At shutdown: give back every lease still held; none of them was sent, so the attempt
    counter goes back too."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_endpoint SET lease_owner_id = NULL, lease_until = NULL, "
            "slot_attempt = CASE WHEN slot_attempt > 0 THEN slot_attempt - 1 ELSE 0 END "
            "WHERE lease_owner_id = %s",
            [worker_id],
        )
        return cursor.rowcount


# --- Claim -------------------------------------------------------------------------------------


def _claim_sql(limit: int, worker_id: int, lease_seconds: float) -> tuple[str, list[Any]]:
    lease_until, lease_params = _now_plus(lease_seconds)
    active = "EXISTS (SELECT 1 FROM jobs_job j WHERE j.id = e.job_id AND j.status = 'active'{})"
    if _postgres():
        # OFFSET 0 keeps the job check a per-row filter: as a join, the planner read and sorted
        # every due endpoint (a backlog) before the LIMIT, instead of stopping after `limit`.
        active = active.format(" OFFSET 0")
        # Each branch walks its partial index (endpoint_run_requested_idx, endpoint_due_idx) in
        # due order and stops at LIMIT; SKIP LOCKED leaves rows another worker is claiming.
        sql = f"""
            WITH manual AS (
                SELECT e.id FROM jobs_endpoint e
                WHERE e.lease_owner_id IS NULL AND e.run_requested_at <= statement_timestamp() AND {active}
                ORDER BY e.run_requested_at LIMIT %s FOR UPDATE OF e SKIP LOCKED
            ), scheduled AS (
                SELECT e.id FROM jobs_endpoint e
                WHERE e.lease_owner_id IS NULL AND e.next_run_at <= statement_timestamp() AND {active}
                ORDER BY e.next_run_at LIMIT %s FOR UPDATE OF e SKIP LOCKED
            ), picked AS (
                SELECT id FROM manual UNION SELECT id FROM scheduled LIMIT %s
            )
            UPDATE jobs_endpoint e
            SET lease_owner_id = %s, lease_until = {lease_until}, slot_attempt = e.slot_attempt + 1
            FROM picked, jobs_job j
            WHERE e.id = picked.id AND j.id = e.job_id
            RETURNING statement_timestamp(), {", ".join(_RETURNED)}
        """
        return sql, [limit, limit, limit, worker_id, *lease_params]
    # SQLite: one statement in one write transaction; there is a single writer at a time.
    active = active.format("")
    now = _now()
    sql = f"""
        UPDATE jobs_endpoint
        SET lease_owner_id = %s, lease_until = {lease_until}, slot_attempt = slot_attempt + 1
        WHERE id IN (
            SELECT e.id FROM jobs_endpoint e
            WHERE e.lease_owner_id IS NULL AND {active}
              AND (e.run_requested_at <= {now} OR e.next_run_at <= {now})
            ORDER BY COALESCE(e.run_requested_at, e.next_run_at) LIMIT %s
        )
        RETURNING {now}, id
    """
    return sql, [worker_id, *lease_params, limit]


def claim(worker_id: int, limit: int, lease_seconds: float) -> tuple[datetime, list[dict]]:
    """Lease up to `limit` due endpoints; returns the database time and their CLAIM_FIELDS."""
    if limit <= 0:
        return database_now(), []
    sql, params = _claim_sql(limit, worker_id, lease_seconds)
    if _postgres():
        with _binary_cursor() as cursor:
            cursor.execute(sql, params, binary=True)
            returned = cursor.fetchall()
        if not returned:
            return database_now(), []
        # The claim returned the rows themselves: one round trip, no ORM per row.
        rows = [dict(zip(CLAIM_FIELDS, row[1:], strict=True)) for row in returned]
        for row in rows:
            for name in JSON_FIELDS:
                row[name] = _json(row[name])
        return returned[0][0], rows
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    if not returned:
        return database_now(), []
    # SQLite's RETURNING cannot reach the job: read the claimed rows (they are ours now).
    ids = [row[1] for row in returned]
    rows = list(Endpoint.objects.filter(id__in=ids).values(*CLAIM_FIELDS))
    return _as_datetime(returned[0][0]), rows


# Nearly every endpoint has no extra headers and no expected codes: skip the parser for those.
_EMPTY_JSON = {"{}": {}, "[]": []}


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    empty = _EMPTY_JSON.get(value)
    return json.loads(value) if empty is None else type(empty)()


def seconds_until_next_due() -> float | None:
    """How long until the earliest unleased endpoint is due (may be negative); None if none."""
    earliest = (
        Endpoint.objects.filter(
            lease_owner__isnull=True, next_run_at__isnull=False, job__status="active"
        )
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)
        .first()
    )
    if earliest is None:
        return None
    return (earliest - database_now()).total_seconds()


# --- Completion --------------------------------------------------------------------------------


def defer(worker_id: int, deferrals: Sequence[Deferral]) -> None:
    """Misfires and poison endpoints: a new next_run_at, the lease given back, no run."""
    if not deferrals:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE jobs_endpoint SET next_run_at = %s, next_run_source = %s, slot_attempt = 0, "
            "run_requested_at = CASE WHEN run_requested_at = %s THEN NULL "
            "ELSE run_requested_at END, lease_owner_id = NULL, lease_until = NULL "
            "WHERE id = %s AND lease_owner_id = %s",
            [
                (
                    _db_datetime(item.next_run_at),
                    item.source,
                    _db_datetime(item.clear_request),
                    item.endpoint_id,
                    worker_id,
                )
                for item in deferrals
            ],
        )


def complete(worker_id: int, completions: Sequence[Completion], policy: Policy) -> int:
    """Record runs and replan their endpoints in one transaction; returns the endpoints replanned.

    A run is always inserted (the request went out), but an endpoint is replanned only while
    this worker still holds its lease.
    """
    if not completions:
        return 0
    with transaction.atomic():
        # Locked in id order (no deadlock between workers); a locked row cannot be deleted
        # under the run we insert for it. The database time comes with the rows.
        rows = _lock_and_insert_runs(worker_id, completions)
        updates = []
        for completion in completions:
            row = rows.get(completion.slot.endpoint_id)
            if row is None:
                logger.info(
                    "endpoint %s was deleted during its run; the run is not recorded",
                    completion.slot.endpoint_id,
                )
                continue
            if row["lease_owner_id"] != worker_id:
                # Another worker got there first: our lease expired and the slot was re-claimed.
                logger.warning(
                    "endpoint %s: lease lost before completion, run recorded, schedule left alone",
                    completion.slot.endpoint_id,
                )
                continue
            updates.append(_replan(row, completion, row["db_now"], policy))
        _update_endpoints(worker_id, updates)
    return len(updates)


def _lock_and_insert_runs(worker_id: int, completions: Sequence[Completion]) -> dict[int, dict]:
    """Lock the endpoints of `completions`, insert the runs of those that still exist, and
    return their PLAN_FIELDS (with lease_owner_id and db_now) by id."""
    ids = [c.slot.endpoint_id for c in completions]
    if not _postgres():
        rows = {
            row["id"]: row
            for row in Endpoint.objects.select_for_update()
            .filter(id__in=ids)
            .order_by("id")
            .annotate(db_now=RawSQL(_now(), [], output_field=DateTimeField()))
            .values("db_now", "lease_owner_id", *PLAN_FIELDS)
        }
        _insert_runs(worker_id, [c for c in completions if c.slot.endpoint_id in rows])
        return rows
    # One statement: lock, insert, read back. Runs of deleted endpoints are left out quietly.
    columns = ", ".join(RUN_COLUMNS)
    selected = ("lease_owner_id", *PLAN_FIELDS)
    with _binary_cursor() as cursor:
        cursor.execute(
            f"""
            WITH locked AS MATERIALIZED (
                SELECT {", ".join(selected)} FROM jobs_endpoint
                WHERE id = ANY(%b::bigint[]) ORDER BY id FOR UPDATE
            ), inserted AS (
                INSERT INTO jobs_run ({columns})
                SELECT * FROM unnest({RUN_ARRAYS}) AS r({columns})
                WHERE r.endpoint_id IN (SELECT id FROM locked)
                ON CONFLICT (endpoint_id, scheduled_for) DO NOTHING
            )
            SELECT statement_timestamp(), * FROM locked
            """,
            [ids, *_run_arrays(worker_id, completions)],
            binary=True,
        )
        names = ("db_now", *selected)
        return {row[2]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def _run_arrays(worker_id: int, completions: Sequence[Completion]) -> list[list]:
    """The runs of `completions` as one list per RUN_COLUMNS (PostgreSQL: aware datetimes)."""
    slots = [c.slot for c in completions]
    outcomes = [c.outcome for c in completions]
    return [
        [slot.endpoint_id for slot in slots],
        [slot.scheduled_for for slot in slots],
        [outcome.started_at for outcome in outcomes],
        [outcome.finished_at for outcome in outcomes],
        [outcome.duration_ms for outcome in outcomes],
        [outcome.status for outcome in outcomes],
        [outcome.status_code for outcome in outcomes],
        [outcome.error for outcome in outcomes],
        [outcome.response_excerpt for outcome in outcomes],
        [min(slot.attempt, MAX_ATTEMPT) for slot in slots],
        [slot.source for slot in slots],
        [worker_id] * len(slots),
        [slot.is_synthetic for slot in slots],
    ]


def _replan(row: dict, completion: Completion, now: datetime, policy: Policy) -> tuple:
    """The endpoint's new state after `completion`, as _update_endpoints' parameters."""
    slot = completion.slot
    next_run_at, source = row["next_run_at"], row["next_run_source"]
    failures = row["failure_count"]
    clear_request = None
    if slot.manual:
        # A manual run leaves the schedule and the failure streak as they were.
        clear_request = slot.scheduled_for
    else:
        failures = 0 if completion.outcome.status == "success" else failures + 1
        try:
            plan = plan_next_run(
                ScheduleState.of({**row, "failure_count": failures}),
                slot.scheduled_for,
                now,
                policy,
            )
            next_run_at, source = plan.next_run_at, plan.source
        except Exception:
            logger.exception(
                "endpoint %s: planning failed, retrying in %ss",
                slot.endpoint_id,
                POISON_DELAY_SECONDS,
            )
            next_run_at = now + timedelta(seconds=POISON_DELAY_SECONDS)
    return (
        next_run_at,
        source,
        failures,
        completion.outcome.started_at,
        clear_request,
        slot.endpoint_id,
    )


# Completion's endpoint update; run_requested_at is cleared only if it is still the request served.
_REPLANNED = (
    "next_run_at = {0}, next_run_source = {1}, failure_count = {2}, last_run_at = {3}, "
    "run_requested_at = CASE WHEN run_requested_at = {4} THEN NULL ELSE run_requested_at END, "
    "slot_attempt = 0, lease_owner_id = NULL, lease_until = NULL"
)


def _update_endpoints(worker_id: int, updates: list[tuple]) -> None:
    if not updates:
        return
    if _postgres():
        # One statement for the batch, its values as arrays: the same query text whatever the
        # batch size.
        assignments = _REPLANNED.format("v.at", "v.source", "v.failures", "v.last", "v.served")
        with _binary_cursor() as cursor:
            cursor.execute(
                f"UPDATE jobs_endpoint SET {assignments} "
                "FROM unnest(%b::timestamptz[], %b::text[], %b::integer[], %b::timestamptz[], "
                "%b::timestamptz[], %b::bigint[]) AS v(at, source, failures, last, served, id) "
                "WHERE jobs_endpoint.id = v.id AND lease_owner_id = %b",
                [*(list(column) for column in zip(*updates, strict=True)), worker_id],
            )
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE jobs_endpoint SET {_REPLANNED.format(*['%s'] * 5)} "
            "WHERE id = %s AND lease_owner_id = %s",
            [(*map(_sqlite_value, update), worker_id) for update in updates],
        )


def _insert_runs(worker_id: int, completions: Sequence[Completion]) -> None:
    """SQLite: the runs of `completions`, one prepared INSERT for the batch."""
    if not completions:
        return
    columns = ", ".join(RUN_COLUMNS)
    placeholder = "(" + ", ".join(["%s"] * len(RUN_COLUMNS)) + ")"
    rows = [
        list(map(_sqlite_value, row))
        for row in zip(*_run_arrays(worker_id, completions), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO jobs_run ({columns}) VALUES {placeholder} "
            "ON CONFLICT (endpoint_id, scheduled_for) DO NOTHING",
            rows,
        )

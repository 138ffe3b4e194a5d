"""Claim, lease, heartbeat, completion, deferral and sweep SQL, on the database's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from jobs.models import Endpoint, Job, Run, SchedulerWorker
from jobs.scheduling import claims
from jobs.scheduling.claims import Completion, Deferral, Slot
from jobs.scheduling.clock import database_now
from jobs.scheduling.dispatch import Outcome
from jobs.scheduling.governor import Policy

pytestmark = pytest.mark.django_db
POLICY = Policy()


@pytest.fixture
def worker() -> int:
    return claims.register_worker("host:1:aaaaaa", "host", 1)


@pytest.fixture
def other_worker() -> int:
    return claims.register_worker("host:2:bbbbbb", "host", 2)


def make_endpoint(job: Job, name: str, due_in: float = -1, **fields) -> Endpoint:
    fields.setdefault("interval_seconds", 60)
    return Endpoint.objects.create(
        job=job,
        name=name,
        url=f"https://example.com/{name}",
        next_run_at=database_now() + timedelta(seconds=due_in),
        next_run_source="interval",
        **fields,
    )


def outcome(status: str = "success", code: int | None = 200) -> Outcome:
    now = datetime.now(UTC)
    return Outcome(status, now, now + timedelta(milliseconds=12), 12, status_code=code)


def completion(endpoint: Endpoint, status: str = "success", manual: bool = False) -> Completion:
    endpoint.refresh_from_db()
    slot = endpoint.run_requested_at if manual else endpoint.next_run_at
    source = "manual" if manual else endpoint.next_run_source
    return Completion(
        Slot(endpoint.pk, slot, source, endpoint.slot_attempt, manual, False),
        outcome(status, 200 if status == "success" else 500),
    )


def claimed_ids(worker: int, limit: int = 10) -> list[int]:
    _now, rows = claims.claim(worker, limit, lease_seconds=20)
    return sorted(row["id"] for row in rows)


def test_it_claims_due_endpoints_of_active_jobs_only(alice, alice_job, worker, other_worker):
    due = make_endpoint(alice_job, "due")
    make_endpoint(alice_job, "later", due_in=600)
    held = make_endpoint(alice_job, "held")
    Endpoint.objects.filter(pk=held.pk).update(lease_owner_id=other_worker)
    paused_job = Job.objects.create(owner=alice, name="paused", status=Job.Status.PAUSED)
    make_endpoint(paused_job, "of-paused-job")

    assert claimed_ids(worker) == [due.pk]
    due.refresh_from_db()
    assert due.lease_owner_id == worker
    assert due.slot_attempt == 1
    lease = (due.lease_until - database_now()).total_seconds()
    assert 15 < lease <= 20


def test_it_returns_what_the_worker_needs_to_call_the_endpoint(alice_job, worker):
    alice_job.signing_secret = "s3cret"
    alice_job.save()
    endpoint = make_endpoint(alice_job, "due", headers={"X-A": "1"}, expected_status_codes=[204])
    now, [row] = claims.claim(worker, 10, lease_seconds=20)
    assert abs((now - database_now()).total_seconds()) < 5
    assert row["next_run_at"] == endpoint.next_run_at
    assert row["headers"] == {"X-A": "1"}
    assert row["expected_status_codes"] == [204]
    assert row["job__signing_secret"] == "s3cret"
    assert row["job__is_synthetic"] is False


def test_a_claimed_endpoint_is_not_claimed_again(alice_job, worker, other_worker):
    make_endpoint(alice_job, "due")
    assert len(claimed_ids(worker)) == 1
    assert claimed_ids(other_worker) == []
    assert claimed_ids(worker) == []


def test_it_claims_at_most_the_limit_most_overdue_first(alice_job, worker):
    endpoints = [make_endpoint(alice_job, f"e{i}", due_in=-10 + i) for i in range(5)]
    assert claimed_ids(worker, limit=2) == [endpoints[0].pk, endpoints[1].pk]


def test_run_now_requests_are_claimed_even_when_not_due(alice_job, worker):
    endpoint = make_endpoint(alice_job, "later", due_in=600)
    Endpoint.objects.filter(pk=endpoint.pk).update(run_requested_at=database_now())
    assert claimed_ids(worker) == [endpoint.pk]


def test_completion_records_the_run_and_keeps_a_fixed_rate(alice_job, worker):
    endpoint = make_endpoint(alice_job, "due", due_in=-3)
    slot = endpoint.next_run_at
    claimed_ids(worker)
    done = completion(endpoint)

    assert claims.complete(worker, [done], POLICY) == 1

    run = Run.objects.get(endpoint=endpoint)
    assert (run.scheduled_for, run.status, run.status_code, run.attempt) == (
        slot,
        "success",
        200,
        1,
    )
    assert (run.source, run.worker_id, run.duration_ms) == ("interval", worker, 12)
    endpoint.refresh_from_db()
    assert endpoint.next_run_at == slot + timedelta(seconds=60)
    assert endpoint.next_run_source == "interval"
    assert endpoint.last_run_at == done.outcome.started_at
    assert (endpoint.failure_count, endpoint.slot_attempt) == (0, 0)
    assert (endpoint.lease_owner_id, endpoint.lease_until) == (None, None)


def test_a_failure_counts_and_backs_off(alice_job, worker):
    endpoint = make_endpoint(alice_job, "due", failure_count=1)
    slot = endpoint.next_run_at
    claimed_ids(worker)
    claims.complete(worker, [completion(endpoint, "failure")], POLICY)
    endpoint.refresh_from_db()
    assert endpoint.failure_count == 2
    assert endpoint.next_run_source == "backoff"
    assert endpoint.next_run_at == slot + timedelta(seconds=120)
    assert Run.objects.get(endpoint=endpoint).status == "failure"


def test_a_manual_run_leaves_the_schedule_alone(alice_job, worker):
    endpoint = make_endpoint(alice_job, "later", due_in=600, failure_count=3)
    requested = database_now()
    Endpoint.objects.filter(pk=endpoint.pk).update(run_requested_at=requested)
    claimed_ids(worker)
    claims.complete(worker, [completion(endpoint, "failure", manual=True)], POLICY)
    before = endpoint.next_run_at
    endpoint.refresh_from_db()
    assert endpoint.run_requested_at is None
    assert (endpoint.next_run_at, endpoint.failure_count) == (before, 3)
    run = Run.objects.get(endpoint=endpoint)
    assert (run.scheduled_for, run.source) == (requested, "manual")


def test_a_new_run_now_request_during_a_manual_run_is_kept(alice_job, worker):
    endpoint = make_endpoint(alice_job, "later", due_in=600)
    Endpoint.objects.filter(pk=endpoint.pk).update(run_requested_at=database_now())
    claimed_ids(worker)
    done = completion(endpoint, manual=True)
    newer = database_now() + timedelta(seconds=1)
    Endpoint.objects.filter(pk=endpoint.pk).update(run_requested_at=newer)
    claims.complete(worker, [done], POLICY)
    endpoint.refresh_from_db()
    assert endpoint.run_requested_at == newer


def test_completion_is_fenced_by_the_lease_owner(alice_job, worker, other_worker):
    endpoint = make_endpoint(alice_job, "due")
    claimed_ids(worker)
    done = completion(endpoint)
    # Our lease expired and another worker took the endpoint over.
    Endpoint.objects.filter(pk=endpoint.pk).update(lease_owner_id=other_worker)

    assert claims.complete(worker, [done], POLICY) == 0

    endpoint.refresh_from_db()
    assert endpoint.lease_owner_id == other_worker
    assert endpoint.next_run_at == done.slot.scheduled_for
    assert Run.objects.filter(endpoint=endpoint).count() == 1  # the request went out: recorded


def test_a_run_of_an_endpoint_deleted_meanwhile_is_dropped_quietly(alice_job, worker):
    deleted = make_endpoint(alice_job, "deleted")
    kept = make_endpoint(alice_job, "kept")
    claimed_ids(worker)
    done = [completion(deleted), completion(kept)]
    deleted.delete()

    assert claims.complete(worker, done, POLICY) == 1

    assert list(Run.objects.values_list("endpoint_id", flat=True)) == [kept.pk]


def test_a_slot_is_recorded_once_whoever_completes_it(alice_job, worker, other_worker):
    endpoint = make_endpoint(alice_job, "due")
    claimed_ids(worker)
    done = completion(endpoint)
    claims.complete(worker, [done], POLICY)
    claims.complete(other_worker, [done], POLICY)
    assert Run.objects.filter(endpoint=endpoint).count() == 1
    assert Run.objects.get(endpoint=endpoint).worker_id == worker


def test_heartbeat_extends_the_leases_the_worker_knows_of(alice_job, worker, other_worker):
    mine = make_endpoint(alice_job, "mine")
    unknown = make_endpoint(alice_job, "unknown")  # claimed, but the answer was lost
    claimed_ids(worker)
    theirs = make_endpoint(alice_job, "theirs")
    claimed_ids(other_worker)
    Endpoint.objects.update(lease_until=database_now() + timedelta(seconds=1))

    assert claims.heartbeat(worker, [mine.pk, theirs.pk], lease_seconds=30) == 1

    def lease_left(endpoint: Endpoint) -> float:
        endpoint.refresh_from_db()
        return (endpoint.lease_until - database_now()).total_seconds()

    assert lease_left(mine) > 25
    assert lease_left(unknown) < 2
    assert lease_left(theirs) < 2
    beat = SchedulerWorker.objects.get(pk=worker).heartbeat_at
    assert abs((beat - database_now()).total_seconds()) < 5


def test_sweep_frees_expired_leases_and_the_slot_is_sent_again_as_attempt_2(
    alice_job, worker, other_worker
):
    dead = make_endpoint(alice_job, "dead")
    claimed_ids(worker)
    live = make_endpoint(alice_job, "live")
    claimed_ids(other_worker)
    Endpoint.objects.filter(pk=dead.pk).update(lease_until=database_now() - timedelta(seconds=1))

    assert claims.sweep() == 1

    _now, [row] = claims.claim(other_worker, 10, lease_seconds=20)
    assert row["id"] == dead.pk
    assert row["slot_attempt"] == 2
    assert row["next_run_at"] == dead.next_run_at  # the same slot, so the same Idempotency-Key
    live.refresh_from_db()
    assert live.lease_owner_id == other_worker


def test_release_unstarted_gives_back_leases_and_attempts(alice_job, worker):
    endpoint = make_endpoint(alice_job, "due")
    claimed_ids(worker)
    assert claims.release_unstarted(worker) == 1
    endpoint.refresh_from_db()
    assert (endpoint.lease_owner_id, endpoint.slot_attempt) == (None, 0)
    assert claimed_ids(worker) == [endpoint.pk]


def test_defer_moves_the_next_run_without_a_run(alice_job, worker, other_worker):
    endpoint = make_endpoint(alice_job, "due")
    claimed_ids(worker)
    later = database_now() + timedelta(seconds=42)
    claims.defer(other_worker, [Deferral(endpoint.pk, later, "misfire")])  # not its lease
    endpoint.refresh_from_db()
    assert endpoint.lease_owner_id == worker

    claims.defer(worker, [Deferral(endpoint.pk, later, "misfire")])

    endpoint.refresh_from_db()
    assert (endpoint.next_run_at, endpoint.next_run_source) == (later, "misfire")
    assert (endpoint.lease_owner_id, endpoint.slot_attempt) == (None, 0)
    assert not Run.objects.exists()


def test_seconds_until_next_due_looks_at_unleased_endpoints_of_active_jobs(
    alice, alice_job, worker
):
    assert claims.seconds_until_next_due() is None
    make_endpoint(alice_job, "soon", due_in=30)
    make_endpoint(alice_job, "held", due_in=-5)
    claimed_ids(worker)  # takes "held", the only one due
    paused_job = Job.objects.create(owner=alice, name="paused", status=Job.Status.PAUSED)
    make_endpoint(paused_job, "of-paused-job", due_in=-100)
    assert 25 < claims.seconds_until_next_due() <= 30


@pytest.mark.postgres
def test_the_claim_walks_its_partial_index(alice_job, worker):
    with connection.cursor() as cursor:
        # 50,000 endpoints that are not due, as a real installation would have.
        cursor.execute(
            """
            INSERT INTO jobs_endpoint (job_id, name, url, method, headers, body, timeout_seconds,
                max_response_bytes, expected_status_codes, interval_seconds, cron, timezone,
                hint_reason, next_run_at, next_run_source, failure_count, slot_attempt,
                created_at, updated_at)
            SELECT %s, 'e' || i, 'https://example.com/', 'GET', '{}', '', 30, 4096, '[]', 60, '',
                'UTC', '', now() + i * interval '1 second', 'interval', 0, 0, now(), now()
            FROM generate_series(1, 50000) AS i
            """,
            [alice_job.pk],
        )
        cursor.execute("ANALYZE jobs_endpoint")
        cursor.execute("ANALYZE jobs_job")
        sql, params = claims._claim_sql(100, worker, 20)
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "endpoint_due_idx" in plan, plan
    assert "endpoint_run_requested_idx" in plan, plan
    assert "Seq Scan on jobs_endpoint" not in plan, plan

"""The scheduler loop, step by step: statuses, misfires, poison endpoints, database errors."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import OperationalError

from jobs.models import Endpoint, Run, SchedulerWorker
from jobs.scheduling import claims
from jobs.scheduling.clock import database_now
from jobs.scheduling.control import request_run_now
from jobs.scheduling.dispatch import idempotency_key
from jobs.scheduling.worker import MAX_IDLE_SECONDS, Worker, WorkerOptions
from tests.http_targets import TargetServer, refused_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def target():
    with TargetServer() as server:
        yield server


@pytest.fixture
def make_worker():
    workers: list[Worker] = []

    def make(**options) -> Worker:
        values = {"batch_size": 50, "concurrency": 20, "shutdown_timeout": 5}
        worker = Worker(WorkerOptions(**{**values, **options}))
        worker._pause = lambda seconds: None  # no backoff sleeps in tests
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        if worker.dispatcher is not None:
            worker.dispatcher.close()


def add(job, name: str, url: str, **fields) -> Endpoint:
    fields.setdefault("interval_seconds", 60)
    return Endpoint.objects.create(job=job, name=name, url=url, **fields)


def wait_for_answers(worker: Worker, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while len(worker.pending) < count and time.monotonic() < deadline:
        worker.collect(0.2)
    assert len(worker.pending) == count


def test_each_kind_of_answer_becomes_the_right_run_status(alice_job, target, make_worker):
    ok = add(alice_job, "ok", target.url("/ok"))
    cases = {
        "ok": ("success", 200),
        "non-2xx": ("failure", 503),
        "slow": ("success", 200),
        "timeout": ("timeout", None),
        "refused": ("error", None),
        "huge": ("success", 200),
        "redirect-to-private": ("error", None),
    }
    add(alice_job, "non-2xx", target.url("/status/503"))
    add(alice_job, "slow", target.url("/slow?ms=200"))
    add(alice_job, "timeout", target.url("/slow?ms=3000"), timeout_seconds=1)
    add(alice_job, "refused", refused_url())
    add(alice_job, "huge", target.url("/huge?bytes=104857600"), max_response_bytes=100)
    add(alice_job, "redirect-to-private", target.url("/redirect?to=http://10.0.0.8/"))

    worker = make_worker()
    worker.run_once()

    runs = {run.endpoint.name: run for run in Run.objects.select_related("endpoint")}
    assert {name: (run.status, run.status_code) for name, run in runs.items()} == cases
    assert runs["huge"].response_excerpt == "x" * 100
    assert "blocked" in runs["redirect-to-private"].error
    assert not Endpoint.objects.filter(lease_owner__isnull=False).exists()
    assert all(run.worker_id == worker.worker_id for run in runs.values())
    assert SchedulerWorker.objects.get(pk=worker.worker_id).stopped_at is not None
    ok.refresh_from_db()
    assert ok.next_run_at == runs["ok"].scheduled_for + timedelta(seconds=60)
    [request] = [r for r in target.received if r.path == "/ok"]
    assert request.headers["Idempotency-Key"] == idempotency_key(ok.pk, runs["ok"].scheduled_for)
    assert request.headers["X-Cronicorn-Attempt"] == "1"


def test_a_misfired_slot_is_spread_and_not_called_now(alice_job, target, make_worker):
    endpoint = add(alice_job, "missed", target.url("/ok"))
    Endpoint.objects.filter(pk=endpoint.pk).update(
        next_run_at=database_now() - timedelta(minutes=30)
    )
    worker = make_worker()
    worker.start()

    assert worker.claim_step() == 1

    endpoint.refresh_from_db()
    assert endpoint.next_run_source == "misfire"
    assert database_now() <= endpoint.next_run_at <= database_now() + timedelta(seconds=60)
    assert endpoint.lease_owner_id is None
    assert worker.dispatcher.in_flight == 0
    assert target.received == []


def test_a_poison_endpoint_is_pushed_later_and_the_others_run(alice_job, target, make_worker):
    poison = add(alice_job, "poison", target.url("/ok"))
    Endpoint.objects.filter(pk=poison.pk).update(headers="not an object")
    healthy = add(alice_job, "healthy", target.url("/ok"))
    worker = make_worker()

    worker.run_once()

    poison.refresh_from_db()
    delay = (poison.next_run_at - database_now()).total_seconds()
    assert 50 < delay <= 60
    assert poison.lease_owner_id is None
    assert list(Run.objects.values_list("endpoint_id", flat=True)) == [healthy.pk]


@pytest.mark.django_db(transaction=True)  # the worker closes the broken connection
def test_completed_runs_wait_in_memory_while_the_database_is_away(
    alice_job, target, make_worker, monkeypatch
):
    endpoint = add(alice_job, "ok", target.url("/ok"))
    worker = make_worker()
    worker.start()
    worker.claim_step()
    wait_for_answers(worker, 1)
    record = claims.complete

    def database_away(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(claims, "complete", database_away)
    assert worker._guarded(worker.record_step) is None
    assert len(worker.pending) == 1
    assert not Run.objects.exists()

    monkeypatch.setattr(claims, "complete", record)
    assert worker._guarded(worker.record_step) == 1
    assert worker.pending == []
    assert Run.objects.get().endpoint_id == endpoint.pk


def test_an_unexpected_error_in_a_step_does_not_stop_the_loop(
    alice_job, target, make_worker, monkeypatch
):
    add(alice_job, "ok", target.url("/ok"))
    worker = make_worker()
    worker.start()

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(claims, "claim", broken)
    worker.step()
    monkeypatch.undo()
    worker._pause = lambda seconds: None
    worker.step()
    wait_for_answers(worker, 1)
    worker.record_step()
    assert Run.objects.count() == 1


def test_a_run_now_request_runs_once_as_manual(alice_job, target, make_worker):
    endpoint = add(alice_job, "ok", target.url("/ok"))
    Endpoint.objects.filter(pk=endpoint.pk).update(next_run_at=database_now() + timedelta(hours=1))
    request_run_now(endpoint)
    planned = Endpoint.objects.get(pk=endpoint.pk).next_run_at

    make_worker().run_once()

    run = Run.objects.get()
    assert run.source == "manual"
    assert run.scheduled_for == endpoint.run_requested_at
    endpoint.refresh_from_db()
    assert endpoint.run_requested_at is None
    assert endpoint.next_run_at == planned


def test_a_full_worker_claims_nothing_more(alice_job, target, make_worker):
    add(alice_job, "a", target.url("/slow?ms=500"))
    add(alice_job, "b", target.url("/slow?ms=500"))
    worker = make_worker(concurrency=1)
    worker.start()
    assert worker.claim_step() == 1
    assert worker.claim_step() == 0
    assert Endpoint.objects.filter(lease_owner__isnull=True).count() == 1


def test_shutdown_gives_back_unstarted_leases_and_marks_the_worker_stopped(alice_job, make_worker):
    endpoint = add(alice_job, "ok", "https://example.com/")
    worker = make_worker()
    worker.start()
    claims.claim(worker.worker_id, 10, lease_seconds=20)  # claimed, never started

    worker.shutdown()

    endpoint.refresh_from_db()
    assert (endpoint.lease_owner_id, endpoint.slot_attempt) == (None, 0)
    assert SchedulerWorker.objects.get(pk=worker.worker_id).stopped_at is not None


def test_an_idle_worker_sleeps_until_the_next_due_time_but_not_longer_than_a_second(
    alice_job, make_worker
):
    worker = make_worker(heartbeat_seconds=5)
    worker.start()
    assert worker.idle_seconds() == pytest.approx(MAX_IDLE_SECONDS, abs=0.05)
    endpoint = add(alice_job, "soon", "https://example.com/")
    Endpoint.objects.filter(pk=endpoint.pk).update(
        next_run_at=database_now() + timedelta(seconds=0.4)
    )
    assert 0.2 < worker.idle_seconds() <= 0.4
    Endpoint.objects.filter(pk=endpoint.pk).update(
        next_run_at=database_now() - timedelta(seconds=1)
    )
    assert worker.idle_seconds() == 0


def test_it_heartbeats_and_sweeps_on_its_own_period(alice_job, make_worker, monkeypatch):
    worker = make_worker(heartbeat_seconds=5)
    worker.start()
    assert worker.heartbeat_step() is False  # start() counts as a heartbeat
    assert worker.heartbeat_step(force=True) is True
    dead = add(alice_job, "dead", "https://example.com/")
    # Due without doubt: SQLite's now() has millisecond precision, the model's clock microseconds.
    Endpoint.objects.filter(pk=dead.pk).update(next_run_at=database_now() - timedelta(seconds=1))
    other = claims.register_worker("dead:1:cccccc", "dead", 1)
    claims.claim(other, 10, lease_seconds=20)
    Endpoint.objects.filter(pk=dead.pk).update(lease_until=database_now() - timedelta(seconds=1))
    assert worker.sweep_step() == 1
    assert worker.sweep_step() == 0  # not again before its period

"""The scheduler loop: claim -> dispatch -> record -> heartbeat -> sweep -> sleep until due.

The main thread runs small synchronous steps that tests call one by one; HTTP runs on the
Dispatcher's own thread (libcurl). In run(), completions are recorded by a second thread with its own
database connection, so claiming, calling and recording overlap instead of waiting on each other.
A database error (restart, dropped connection) is logged and retried with backoff; completed runs
wait in memory until they are recorded, so none is lost.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from jobs.scheduling import claims
from jobs.scheduling.claims import POISON_DELAY_SECONDS, Completion, Deferral, Slot
from jobs.scheduling.dispatch import Dispatcher, Request
from jobs.scheduling.governor import SOURCE_MISFIRE, Policy, is_misfire, spread_misfire

logger = logging.getLogger("cronicorn.scheduler")

T = TypeVar("T")
MAX_BACKOFF_SECONDS = 10.0
# How long an idle worker sleeps at most: a "run now" request waits at most this long.
MAX_IDLE_SECONDS = 1.0
# run()'s recorder writes at most this often: fewer, bigger transactions under load.
RECORD_INTERVAL_SECONDS = 0.1
# A worker with no room to claim waits this long for answers to pile up, not one wake-up each.
FULL_PAUSE_SECONDS = 0.02
# After --shutdown-timeout, how long to keep trying to record the last runs if the database is down.
RECORD_GRACE_SECONDS = 10.0


class ForcedStop(BaseException):
    """A second signal: stop at once, without draining (BaseException: no step swallows it)."""


@dataclass(frozen=True)
class WorkerOptions:
    # Measured in bench/RESULTS.md: small claims stay cheap, many calls in flight keep the
    # dispatcher busy while the database answers.
    batch_size: int = 50
    concurrency: int = 500
    shutdown_timeout: float = 30.0
    lease_seconds: float = field(default_factory=lambda: settings.SCHEDULER_LEASE_SECONDS)
    heartbeat_seconds: float = field(default_factory=lambda: settings.SCHEDULER_HEARTBEAT_SECONDS)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        options: WorkerOptions | None = None,
        dispatcher: Dispatcher | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.options = options or WorkerOptions()
        self.policy = policy or Policy.from_settings()
        self.name = worker_name()
        self.worker_id: int | None = None
        self.dispatcher = dispatcher
        self.pending: list[Completion] = []
        # Endpoints this worker holds a lease on and has not given back yet.
        self.leased: set[int] = set()
        # Guards pending and leased, which run()'s recorder thread shares with the main thread.
        self._lock = threading.Lock()
        self._has_pending = threading.Event()
        self.stopping = False
        self._wake = threading.Event()
        self._last_heartbeat = 0.0
        self._last_sweep = 0.0
        self._db_failures = 0

    # --- Lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        # A database that is not there yet (boot order, restart) is waited for, not fatal.
        while self.worker_id is None and not self.stopping:
            self.worker_id = self._guarded(
                claims.register_worker, self.name, socket.gethostname(), os.getpid()
            )
        self._last_heartbeat = time.monotonic()
        if self.dispatcher is None:
            self.dispatcher = Dispatcher(self.options.concurrency)
        logger.info(
            "scheduler %s started (batch %s, concurrency %s, lease %ss, heartbeat %ss)",
            self.name,
            self.options.batch_size,
            self.options.concurrency,
            self.options.lease_seconds,
            self.options.heartbeat_seconds,
        )

    def request_stop(self) -> None:
        """From a signal handler: stop claiming; run() then drains and exits."""
        self.stopping = True
        self._wake.set()

    def run(self) -> None:
        """Until request_stop(): claim and collect here, record on a second thread; then a
        graceful shutdown."""
        self.start()
        recorder = threading.Thread(target=self._record_loop, name="record", daemon=True)
        recorder.start()
        while not self.stopping:
            self._claim_pass()
        # The recorder sees `stopping` and ends (a ForcedStop skips this: it is a daemon).
        self._has_pending.set()
        recorder.join()
        self.shutdown()

    def _record_loop(self) -> None:
        """run()'s recorder: whatever completed since its last pass, in one transaction. While it
        waits for the database, completions pile up, so batches grow with the load."""
        try:
            while not self.stopping:
                self._has_pending.wait(MAX_IDLE_SECONDS)
                self._has_pending.clear()
                started = time.monotonic()
                self._guarded(self.record_step)
                self._pause(max(0.0, RECORD_INTERVAL_SECONDS - (time.monotonic() - started)))
        finally:
            connection.close()  # this thread's own connection

    def run_once(self) -> None:
        """One pass: claim everything due, wait for the answers, record them, stop."""
        self.start()
        while not self.stopping:
            self._guarded(self.heartbeat_step)  # slow endpoints must not lose their leases
            claimed = self._guarded(self.claim_step) or 0
            if not claimed and not self.dispatcher.in_flight:
                break
            self.collect(0 if claimed else MAX_IDLE_SECONDS)
            self._guarded(self.record_step)
        self.shutdown()

    def step(self) -> None:
        """One pass of the loop, recording included (run() records on its own thread)."""
        self._claim_pass()
        self._guarded(self.record_step)

    def _claim_pass(self) -> None:
        self._guarded(self.heartbeat_step)
        self._guarded(self.sweep_step)
        claimed = self._guarded(self.claim_step)
        if not claimed and self.dispatcher.in_flight and not self.claim_limit():
            self._wake.wait(FULL_PAUSE_SECONDS)
            wait = 0.0
        else:
            wait = 0.0 if claimed else (self._guarded(self.idle_seconds) or 0.0)
        self.collect(wait)

    def shutdown(self) -> None:
        """Drain in-flight runs up to shutdown_timeout, record them, give back the rest."""
        if self.worker_id is None:  # stopped before the database ever answered
            return
        deadline = time.monotonic() + self.options.shutdown_timeout
        while self.dispatcher.in_flight and time.monotonic() < deadline:
            self.collect(min(0.2, max(0.0, deadline - time.monotonic())))
            self._guarded(self.record_step)
            self._guarded(self.heartbeat_step)
        if self.dispatcher.in_flight:
            logger.warning("interrupting %s runs still in flight", self.dispatcher.in_flight)
        self.dispatcher.close()  # interrupted requests still come back, as errors
        self.collect(0)
        give_up = time.monotonic() + RECORD_GRACE_SECONDS
        while self.pending and time.monotonic() < give_up:
            self._guarded(self.record_step)
        if self.pending:
            # Their leases expire and the slots run again under the same Idempotency-Key.
            logger.error("%s runs could not be recorded before stopping", len(self.pending))
        else:
            self._guarded(claims.release_unstarted, self.worker_id)
        self._guarded(claims.stop_worker, self.worker_id)
        logger.info("scheduler %s stopped", self.name)

    # --- Steps ---------------------------------------------------------------------------------

    def claim_step(self) -> int:
        """Lease as many due endpoints as there is room for and start them; returns how many."""
        limit = self.claim_limit()
        if self.stopping or limit <= 0:
            return 0
        now, rows = claims.claim(self.worker_id, limit, self.options.lease_seconds)
        with self._lock:
            self.leased.update(row["id"] for row in rows)
        started: list[tuple[Slot, Request]] = []
        deferrals: list[Deferral] = []
        for row in rows:
            try:
                prepared = self.prepare(row, now)
            except Exception:
                # A poison endpoint: push it later instead of failing every pass on it.
                logger.exception(
                    "endpoint %s: cannot be started, retrying in %ss",
                    row["id"],
                    POISON_DELAY_SECONDS,
                )
                prepared = Deferral(
                    row["id"],
                    now + timedelta(seconds=POISON_DELAY_SECONDS),
                    row["next_run_source"],
                    clear_request=row["run_requested_at"],
                )
            if isinstance(prepared, Deferral):
                deferrals.append(prepared)
            else:
                started.append(prepared)
        # Start the calls before anything else can fail: their leases are already taken.
        self.dispatcher.submit(started)
        # If the deferral fails, these leases expire and the next claim decides again.
        with self._lock:
            self.leased.difference_update(item.endpoint_id for item in deferrals)
        claims.defer(self.worker_id, deferrals)
        return len(rows)

    def claim_limit(self) -> int:
        """How many endpoints the next claim may take: none while less than a quarter of a batch
        of room is free, so a saturated worker claims in batches, not one endpoint at a time."""
        room = self.dispatcher.capacity
        if room < min(self.options.batch_size, self.options.concurrency) // 4:
            return 0
        return min(self.options.batch_size, room)

    def prepare(self, row: dict, now: datetime) -> tuple[Slot, Request] | Deferral:
        """What to do with one claimed endpoint: call it, or defer a misfired slot."""
        requested = row["run_requested_at"]
        manual = requested is not None and requested <= now
        if manual:
            scheduled_for, source = requested, "manual"
        else:
            scheduled_for = row["next_run_at"]
            source = row["next_run_source"] or ("cron" if row["cron"] else "interval")
            if is_misfire(scheduled_for, now, self.policy):
                # Missed by downtime: run once later, spread, instead of now with everyone else.
                return Deferral(
                    row["id"], spread_misfire(row["id"], now, self.policy), SOURCE_MISFIRE
                )
        slot = Slot(
            endpoint_id=row["id"],
            scheduled_for=scheduled_for,
            source=source,
            attempt=row["slot_attempt"],
            manual=manual,
            is_synthetic=row["job__is_synthetic"],
        )
        request = Request(
            endpoint_id=row["id"],
            url=row["url"],
            method=row["method"],
            scheduled_for=scheduled_for,
            attempt=row["slot_attempt"],
            headers=dict(row["headers"] or {}),
            body=row["body"],
            timeout_seconds=row["timeout_seconds"],
            max_response_bytes=row["max_response_bytes"],
            expected_status_codes=tuple(row["expected_status_codes"] or ()),
            signing_secret=row["job__signing_secret"],
        )
        return slot, request

    def collect(self, wait: float) -> int:
        """Move finished calls into `pending`; waits up to `wait` for the first one."""
        taken = self.dispatcher.take(wait)
        if taken:
            with self._lock:
                self.pending.extend(Completion(slot, outcome) for slot, outcome in taken)
            self._has_pending.set()
        return len(taken)

    def record_step(self) -> int:
        """Record every pending completion in one transaction; returns how many were recorded."""
        with self._lock:
            batch = list(self.pending)
        if not batch:
            return 0
        try:
            claims.complete(self.worker_id, batch, self.policy)
        except (OperationalError, InterfaceError):
            raise  # the database is away: keep them all pending, _guarded backs off
        except Exception:
            logger.exception("recording %s runs failed; recording them one by one", len(batch))
            self._record_one_by_one(batch)
        with self._lock:
            # Only the main thread appends, so the batch is still the head of the list.
            del self.pending[: len(batch)]
            self.leased.difference_update(completion.slot.endpoint_id for completion in batch)
        return len(batch)

    def _record_one_by_one(self, batch: list[Completion]) -> None:
        for completion in batch:
            try:
                claims.complete(self.worker_id, [completion], self.policy)
            except (OperationalError, InterfaceError):
                raise
            except Exception:
                slot = completion.slot
                logger.exception(
                    "endpoint %s: its run for %s cannot be recorded, retrying in %ss",
                    slot.endpoint_id,
                    slot.scheduled_for.isoformat(),
                    POISON_DELAY_SECONDS,
                )
                later = claims.database_now() + timedelta(seconds=POISON_DELAY_SECONDS)
                claims.defer(self.worker_id, [Deferral(slot.endpoint_id, later, slot.source)])

    def heartbeat_step(self, force: bool = False) -> bool:
        if not force and time.monotonic() - self._last_heartbeat < self.options.heartbeat_seconds:
            return False
        with self._lock:
            leased = list(self.leased)
        claims.heartbeat(self.worker_id, leased, self.options.lease_seconds)
        self._last_heartbeat = time.monotonic()
        return True

    def sweep_step(self, force: bool = False) -> int:
        if not force and time.monotonic() - self._last_sweep < self.options.heartbeat_seconds:
            return 0
        self._last_sweep = time.monotonic()
        freed = claims.sweep()
        if freed:
            logger.warning("freed %s expired leases (a worker died or lost the database)", freed)
        return freed

    def idle_seconds(self) -> float:
        """How long to wait for answers before the next claim: until the next due time, but
        never past the next heartbeat nor MAX_IDLE_SECONDS."""
        until_heartbeat = self._last_heartbeat + self.options.heartbeat_seconds - time.monotonic()
        bound = max(0.0, min(MAX_IDLE_SECONDS, until_heartbeat))
        if not self.claim_limit():
            return bound
        due = claims.seconds_until_next_due()
        return bound if due is None else max(0.0, min(due, bound))

    # --- Errors --------------------------------------------------------------------------------

    def _guarded(self, step: Callable[..., T], *args: Any) -> T | None:
        """Run one step; on error log it, back off and return None: the loop never dies."""
        try:
            result = step(*args)
        except (OperationalError, InterfaceError) as exc:
            self._db_failures += 1
            delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (self._db_failures - 1))
            logger.error(
                "database error in %s: %s; retrying in %.1fs (%s runs waiting to be recorded)",
                step.__name__,
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                delay,
                len(self.pending),
            )
            _drop_connection()
            self._pause(delay)
            return None
        except Exception:
            self._db_failures += 1
            logger.exception("unexpected error in %s; going on", step.__name__)
            self._pause(min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (self._db_failures - 1)))
            return None
        self._db_failures = 0
        return result

    def _pause(self, seconds: float) -> None:
        # While running, a stop request cuts the pause short; while stopping, it must not.
        if self.stopping:
            time.sleep(seconds)
        else:
            self._wake.wait(seconds)


def _drop_connection() -> None:
    """Forget a broken connection; Django opens a new one on the next query."""
    try:
        connection.close()
    except Exception:
        connection.connection = None

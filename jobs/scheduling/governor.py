"""Planning: when an endpoint runs next, and why. Pure functions of state and `now`, no ORM.

The rules, applied in this order (each later rule may move the time the earlier ones chose):
1. Baseline: an interval at a fixed rate (next = previous slot + interval, so runs never drift by
   their own duration or the scheduler's delays), or the next cron fire in the endpoint's timezone.
2. Live hints (until hint_expires_at): an interval hint replaces the baseline interval; a one-shot
   hint competes with it and the earlier time wins.
3. Failure backoff: after consecutive failures, wait base * 2**(failures - 1), capped by
   max_interval_seconds or the policy's cap.
4. Clamps: the gap since the previous slot stays within [min_interval_seconds, max_interval_seconds].
5. Coalescing: when several slots are already in the past (a run longer than its interval, an
   outage), only the latest of them runs: one run, not a burst, then the rhythm resumes.
6. paused_until wins last.
Misfires (a due slot older than the grace after downtime) are not run on the spot: they are spread
over a window so that an outage does not end in a thundering herd (`spread_misfire`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.scheduling.cron import get_zone, next_fire_time, previous_fire_time

# The paused_until of an indefinite pause: far enough to never come, still a valid timestamp on
# every database.
PAUSED_FOREVER = datetime(9999, 12, 31, tzinfo=UTC)

SOURCE_INTERVAL = "interval"
SOURCE_CRON = "cron"
SOURCE_HINT = "hint"
SOURCE_BACKOFF = "backoff"
SOURCE_MISFIRE = "misfire"


@dataclass(frozen=True)
class Policy:
    misfire_grace_seconds: int = 60
    misfire_spread_seconds: int = 60
    backoff_cap_seconds: int = 3600

    @classmethod
    def from_settings(cls) -> Policy:
        from django.conf import settings

        return cls(
            misfire_grace_seconds=settings.SCHEDULER_MISFIRE_GRACE_SECONDS,
            misfire_spread_seconds=settings.SCHEDULER_MISFIRE_SPREAD_SECONDS,
            backoff_cap_seconds=settings.SCHEDULER_BACKOFF_CAP_SECONDS,
        )


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class ScheduleState:
    interval_seconds: int | None = None
    cron: str = ""
    timezone: str = "UTC"
    min_interval_seconds: int | None = None
    max_interval_seconds: int | None = None
    hint_interval_seconds: int | None = None
    hint_next_run_at: datetime | None = None
    hint_expires_at: datetime | None = None
    paused_until: datetime | None = None
    failure_count: int = 0

    @classmethod
    def of(cls, source: Any) -> ScheduleState:
        """Read the planning fields of an Endpoint, or of any object or mapping with those names."""
        get = source.get if isinstance(source, Mapping) else lambda name: getattr(source, name)
        return cls(**{field.name: get(field.name) for field in fields(cls)})

    def hints_live(self, now: datetime) -> bool:
        return self.hint_expires_at is not None and self.hint_expires_at > now


@dataclass(frozen=True)
class Plan:
    next_run_at: datetime
    source: str


def first_run(state: ScheduleState, now: datetime, policy: Policy = DEFAULT_POLICY) -> Plan:
    """A new endpoint: an interval schedule starts at once, a cron at its next fire."""
    if state.cron:
        return plan_next_run(state, None, now, policy)
    return _apply_pause(state, Plan(now, SOURCE_INTERVAL))


def plan_next_run(
    state: ScheduleState,
    previous_slot: datetime | None,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> Plan:
    """The next run after `previous_slot` (the slot just served), or after `now` when replanning
    without a run (an operator changed a hint or a pause)."""
    anchor = previous_slot or now
    live = state.hints_live(now)

    interval = (state.hint_interval_seconds if live else None) or state.interval_seconds
    if interval:
        source = SOURCE_HINT if live and state.hint_interval_seconds else SOURCE_INTERVAL
        candidate = anchor + timedelta(seconds=interval)
    else:
        source = SOURCE_CRON
        candidate = _next_cron(state, anchor)

    if live and state.hint_next_run_at and state.hint_next_run_at > anchor:
        one_shot = max(state.hint_next_run_at, now)
        if one_shot < candidate:
            candidate, source = one_shot, SOURCE_HINT

    if state.failure_count > 0:
        base = max((candidate - anchor).total_seconds(), 1.0)
        cap = state.max_interval_seconds or policy.backoff_cap_seconds
        delay = min(base * 2 ** (state.failure_count - 1), max(cap, base))
        backoff = anchor + timedelta(seconds=delay)
        if backoff > candidate:
            candidate, source = backoff, SOURCE_BACKOFF

    candidate = _clamp(state, anchor, candidate)

    if candidate < now and source != SOURCE_HINT:
        candidate = _coalesce(state, anchor, candidate, now)

    return _apply_pause(state, Plan(candidate, source))


def is_misfire(slot: datetime, now: datetime, policy: Policy = DEFAULT_POLICY) -> bool:
    """A due slot this late was missed by downtime, not by ordinary scheduling delay."""
    return now - slot > timedelta(seconds=policy.misfire_grace_seconds)


def spread_misfire(endpoint_id: int, now: datetime, policy: Policy = DEFAULT_POLICY) -> datetime:
    """When a misfired endpoint runs its one coalesced catch-up: a stable per-endpoint offset in
    the spread window, so that thousands of endpoints due after an outage do not fire at once."""
    digest = hashlib.blake2b(str(endpoint_id).encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64
    return now + timedelta(seconds=fraction * policy.misfire_spread_seconds)


def upcoming_runs(
    state: ScheduleState,
    start: datetime | None,
    now: datetime,
    count: int,
    policy: Policy = DEFAULT_POLICY,
) -> list[datetime]:
    """The next `count` planned fire times, assuming every run succeeds and starts on time."""
    if count <= 0:
        return []
    healthy = ScheduleState(**{**state.__dict__, "failure_count": 0})
    current = start or first_run(healthy, now, policy).next_run_at
    times = [current]
    while len(times) < count and current < PAUSED_FOREVER - timedelta(days=366):
        # Simulate the clock at each run, so hints expire and pauses end as they will.
        current = plan_next_run(healthy, current, max(now, current), policy).next_run_at
        if current <= times[-1]:
            break
        times.append(current)
    return times


def _next_cron(state: ScheduleState, after: datetime) -> datetime:
    fire = next_fire_time(state.cron, get_zone(state.timezone), after)
    if fire is None:  # validation rejects crons that never fire; a far pause is the safe answer
        return PAUSED_FOREVER
    return fire


def _clamp(state: ScheduleState, anchor: datetime, candidate: datetime) -> datetime:
    if state.min_interval_seconds:
        candidate = max(candidate, anchor + timedelta(seconds=state.min_interval_seconds))
    if state.max_interval_seconds:
        candidate = min(candidate, anchor + timedelta(seconds=state.max_interval_seconds))
    return candidate


def _coalesce(
    state: ScheduleState, anchor: datetime, candidate: datetime, now: datetime
) -> datetime:
    """The latest slot of the same rhythm that is not after `now`: the missed slots run once."""
    if state.cron and not (state.hints_live(now) and state.hint_interval_seconds):
        latest = previous_fire_time(state.cron, get_zone(state.timezone), now)
        return max(candidate, latest) if latest else candidate
    step = (candidate - anchor).total_seconds()
    if step <= 0:
        return candidate
    skipped = math.floor((now - candidate).total_seconds() / step)
    return candidate + timedelta(seconds=step * skipped)


def _apply_pause(state: ScheduleState, plan: Plan) -> Plan:
    if state.paused_until and state.paused_until > plan.next_run_at:
        return Plan(state.paused_until, plan.source)
    return plan

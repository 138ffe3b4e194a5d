"""The governor's planning rules, one by one and combined, on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.scheduling.governor import (
    PAUSED_FOREVER,
    Plan,
    Policy,
    ScheduleState,
    first_run,
    is_misfire,
    plan_next_run,
    spread_misfire,
    upcoming_runs,
)

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
POLICY = Policy(misfire_grace_seconds=60, misfire_spread_seconds=60, backoff_cap_seconds=3600)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def state(**fields) -> ScheduleState:
    return ScheduleState(**{"interval_seconds": 60, **fields})


def plan(st: ScheduleState, previous_slot=NOW, now=NOW) -> Plan:
    return plan_next_run(st, previous_slot, now, POLICY)


class TestBaseline:
    def test_an_interval_keeps_a_fixed_rate_from_the_previous_slot(self):
        # The run started 3 s late and took 2 s: the next slot still follows the previous slot.
        result = plan(state(), previous_slot=NOW, now=NOW + seconds(5))
        assert result == Plan(NOW + seconds(60), "interval")

    def test_a_new_interval_endpoint_runs_at_once(self):
        assert first_run(state(), NOW, POLICY) == Plan(NOW, "interval")

    def test_a_new_cron_endpoint_waits_for_its_next_fire(self):
        result = first_run(state(interval_seconds=None, cron="0 * * * *"), NOW + seconds(1), POLICY)
        assert result == Plan(NOW + timedelta(hours=1), "cron")

    def test_a_cron_fires_in_its_timezone(self):
        paris = state(interval_seconds=None, cron="30 9 * * *", timezone="Europe/Paris")
        result = plan(paris)
        assert (
            result.next_run_at.astimezone(ZoneInfo("Europe/Paris")).strftime("%d %H:%M")
            == "04 09:30"
        )
        assert result.source == "cron"

    def test_a_cron_time_in_a_spring_forward_gap_fires_once_after_the_jump(self):
        new_york = state(interval_seconds=None, cron="30 2 * * *", timezone="America/New_York")
        before = datetime(2026, 3, 7, 12, tzinfo=UTC)
        fire = plan(new_york, previous_slot=before, now=before).next_run_at
        assert (
            fire.astimezone(ZoneInfo("America/New_York")).isoformat() == "2026-03-08T03:30:00-04:00"
        )

    def test_a_cron_time_in_a_fall_back_overlap_fires_once(self):
        new_york = state(interval_seconds=None, cron="30 1 * * *", timezone="America/New_York")
        first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first 01:30
        following = plan(new_york, previous_slot=first, now=first).next_run_at
        assert (
            following.astimezone(ZoneInfo("America/New_York")).isoformat()
            == "2026-11-02T01:30:00-05:00"
        )


class TestHints:
    def test_an_interval_hint_replaces_the_baseline_while_live(self):
        hinted = state(hint_interval_seconds=10, hint_expires_at=NOW + seconds(300))
        assert plan(hinted) == Plan(NOW + seconds(10), "hint")

    def test_an_expired_hint_is_ignored(self):
        expired = state(hint_interval_seconds=10, hint_expires_at=NOW - seconds(1))
        assert plan(expired) == Plan(NOW + seconds(60), "interval")

    def test_a_one_shot_hint_wins_when_earlier(self):
        hinted = state(hint_next_run_at=NOW + seconds(5), hint_expires_at=NOW + seconds(300))
        assert plan(hinted) == Plan(NOW + seconds(5), "hint")

    def test_a_one_shot_hint_loses_when_later(self):
        hinted = state(hint_next_run_at=NOW + seconds(90), hint_expires_at=NOW + seconds(300))
        assert plan(hinted) == Plan(NOW + seconds(60), "interval")

    def test_a_one_shot_hint_is_spent_once_its_slot_has_run(self):
        hinted = state(hint_next_run_at=NOW, hint_expires_at=NOW + seconds(300))
        assert plan(hinted, previous_slot=NOW) == Plan(NOW + seconds(60), "interval")

    def test_a_one_shot_and_an_interval_hint_compete_earliest_wins(self):
        hinted = state(
            hint_interval_seconds=30,
            hint_next_run_at=NOW + seconds(20),
            hint_expires_at=NOW + seconds(300),
        )
        assert plan(hinted) == Plan(NOW + seconds(20), "hint")

    def test_an_interval_hint_overrides_a_cron(self):
        hinted = state(
            interval_seconds=None,
            cron="0 0 * * *",
            hint_interval_seconds=15,
            hint_expires_at=NOW + seconds(60),
        )
        assert plan(hinted) == Plan(NOW + seconds(15), "hint")


class TestBackoff:
    @pytest.mark.parametrize(("failures", "wait"), [(1, 60), (2, 120), (3, 240), (4, 480)])
    def test_it_doubles_the_wait_on_consecutive_failures(self, failures, wait):
        result = plan(state(failure_count=failures))
        assert result.next_run_at == NOW + seconds(wait)

    def test_it_names_backoff_as_the_source_once_it_delays(self):
        assert plan(state(failure_count=2)).source == "backoff"
        assert plan(state(failure_count=1)).source == "interval"

    def test_it_is_capped_by_the_max_interval(self):
        assert plan(state(failure_count=10, max_interval_seconds=300)).next_run_at == NOW + seconds(
            300
        )

    def test_it_is_capped_by_the_policy_without_a_max_interval(self):
        assert plan(state(failure_count=30)).next_run_at == NOW + seconds(3600)

    def test_success_resets_the_rhythm(self):
        assert plan(state(failure_count=0)) == Plan(NOW + seconds(60), "interval")

    def test_backoff_applies_to_hinted_intervals_too(self):
        hinted = state(
            hint_interval_seconds=10, hint_expires_at=NOW + seconds(600), failure_count=3
        )
        assert plan(hinted) == Plan(NOW + seconds(40), "backoff")


class TestClamps:
    def test_min_interval_slows_a_fast_hint(self):
        hinted = state(
            min_interval_seconds=30, hint_interval_seconds=5, hint_expires_at=NOW + seconds(60)
        )
        assert plan(hinted).next_run_at == NOW + seconds(30)

    def test_max_interval_speeds_up_a_slow_cron(self):
        daily = state(interval_seconds=None, cron="0 0 * * *", max_interval_seconds=600)
        assert plan(daily).next_run_at == NOW + seconds(600)

    def test_min_interval_holds_a_one_shot_hint_back(self):
        hinted = state(
            min_interval_seconds=30,
            hint_next_run_at=NOW + seconds(1),
            hint_expires_at=NOW + seconds(60),
        )
        assert plan(hinted).next_run_at == NOW + seconds(30)


class TestPause:
    def test_paused_until_wins_over_everything(self):
        paused = state(
            paused_until=NOW + seconds(3600),
            hint_next_run_at=NOW + seconds(1),
            hint_expires_at=NOW + seconds(60),
        )
        assert plan(paused).next_run_at == NOW + seconds(3600)

    def test_an_indefinite_pause_never_comes_due(self):
        assert plan(state(paused_until=PAUSED_FOREVER)).next_run_at == PAUSED_FOREVER

    def test_a_pause_in_the_past_is_over(self):
        assert plan(state(paused_until=NOW - seconds(10))).next_run_at == NOW + seconds(60)

    def test_a_new_endpoint_created_paused_waits(self):
        assert first_run(
            state(paused_until=NOW + seconds(30)), NOW, POLICY
        ).next_run_at == NOW + seconds(30)


class TestMisfire:
    def test_missed_interval_slots_coalesce_into_the_latest_one(self):
        # The previous run ended ten minutes late: nine slots were missed; only the latest runs.
        result = plan(state(), previous_slot=NOW, now=NOW + seconds(605))
        assert result.next_run_at == NOW + seconds(600)

    def test_a_slot_only_slightly_late_is_still_run(self):
        result = plan(state(), previous_slot=NOW, now=NOW + seconds(61))
        assert result.next_run_at == NOW + seconds(60)

    def test_missed_cron_fires_coalesce_into_the_latest_one(self):
        minutely = state(interval_seconds=None, cron="* * * * *")
        result = plan(minutely, previous_slot=NOW, now=NOW + seconds(3600 + 30))
        assert result.next_run_at == NOW + seconds(3600)

    def test_a_slot_older_than_the_grace_is_a_misfire(self):
        assert is_misfire(NOW - seconds(61), NOW, POLICY)
        assert not is_misfire(NOW - seconds(59), NOW, POLICY)

    def test_misfires_are_spread_over_the_window_and_stable(self):
        times = [spread_misfire(endpoint_id, NOW, POLICY) for endpoint_id in range(1000)]
        assert all(NOW <= t < NOW + seconds(60) for t in times)
        assert spread_misfire(7, NOW, POLICY) == spread_misfire(7, NOW, POLICY)
        # Spread, not bunched: every ten-second bucket gets a fair share.
        buckets = [
            sum(1 for t in times if NOW + seconds(b) <= t < NOW + seconds(b + 10))
            for b in range(0, 60, 10)
        ]
        assert min(buckets) > 120


class TestUpcoming:
    def test_the_next_five_interval_times(self):
        times = upcoming_runs(state(), NOW, NOW, 5, POLICY)
        assert times == [NOW + seconds(60 * i) for i in range(5)]

    def test_the_next_cron_times_in_their_timezone(self):
        weekdays = state(interval_seconds=None, cron="0 9 * * 1-5", timezone="Europe/Paris")
        times = upcoming_runs(weekdays, None, NOW, 3, POLICY)
        local = [t.astimezone(ZoneInfo("Europe/Paris")).strftime("%a %H:%M") for t in times]
        assert local == ["Fri 09:00", "Mon 09:00", "Tue 09:00"]

    def test_upcoming_runs_follow_a_hint_until_it_expires(self):
        hinted = state(hint_interval_seconds=10, hint_expires_at=NOW + seconds(25))
        times = upcoming_runs(hinted, NOW, NOW, 5, POLICY)
        assert times == [
            NOW,
            NOW + seconds(10),
            NOW + seconds(20),
            NOW + seconds(30),
            NOW + seconds(90),
        ]

    def test_a_paused_endpoint_has_no_upcoming_runs_beyond_its_pause(self):
        assert upcoming_runs(
            state(paused_until=PAUSED_FOREVER), PAUSED_FOREVER, NOW, 5, POLICY
        ) == [PAUSED_FOREVER]


def test_state_reads_an_endpoint_like_object_or_a_mapping():
    row = {field: None for field in ScheduleState.__dataclass_fields__} | {
        "interval_seconds": 5,
        "cron": "",
        "timezone": "UTC",
        "failure_count": 0,
    }
    assert ScheduleState.of(row).interval_seconds == 5

"""runscheduler in-process: --once runs what is due; unusable options exit 2 with one line."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from jobs.models import Endpoint, Run, SchedulerWorker
from tests.http_targets import TargetServer


@pytest.mark.django_db
def test_once_runs_what_is_due_and_stops(alice_job):
    handlers = [signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)]
    with TargetServer() as target:
        Endpoint.objects.create(
            job=alice_job, name="ok", url=target.url("/ok"), interval_seconds=60
        )
        call_command("runscheduler", "--once", "--concurrency", "5")
    assert Run.objects.get().status == "success"
    assert SchedulerWorker.objects.get().stopped_at is not None
    # In-process, it leaves the caller's signal handlers as they were.
    assert [signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)] == handlers


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--batch-size", "0"], "--batch-size and --concurrency must be at least 1."),
        (["--concurrency", "-3"], "--batch-size and --concurrency must be at least 1."),
        (["--shutdown-timeout", "-1"], "--shutdown-timeout must not be negative."),
        (["--lease-seconds", "1"], "must be at least twice SCHEDULER_HEARTBEAT_SECONDS"),
    ],
)
def test_unusable_options_are_refused(options, message):
    with pytest.raises(CommandError, match=message) as error:
        call_command("runscheduler", *options)
    assert error.value.returncode == 2


def test_an_unusable_option_exits_2_with_one_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "runscheduler", "--batch-size", "0"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "CommandError: --batch-size and --concurrency must be at least 1."
    ]

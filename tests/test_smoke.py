"""smoke passes against a live server with a live scheduler, and fails with the right message
when the scheduler is stopped, runs are missing, or the API is down or hangs."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from jobs.models import SchedulerWorker
from tests.runs import record_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scheduler_alive(settings) -> SchedulerWorker:
    settings.SCHEDULER_LIVENESS_SECONDS = 60
    now = timezone.now()
    return SchedulerWorker.objects.create(
        name="w1", hostname="host-1", pid=4321, started_at=now, heartbeat_at=now
    )


@pytest.fixture
def recent_run(alice_endpoint):
    return record_run(alice_endpoint, timezone.now() - timedelta(minutes=1))


def smoke(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("smoke", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


def line(out: str, check: str) -> str:
    return next(row for row in out.splitlines() if row[6:].startswith(check))


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections (the kernel's backlog does) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_it_passes_against_a_live_server(live_server, scheduler_alive, recent_run):
    code, out = smoke("--base-url", live_server.url)
    assert code == 0, out
    assert out.splitlines()[-1].startswith("smoke: 6 of 6 checks passed in")
    for check in ("database", "migrations", "api health", "synthetic health", "scheduler"):
        assert line(out, check).startswith("PASS")
    assert " ms  " in line(out, "api health")


def test_it_fails_when_the_scheduler_is_stopped(live_server, scheduler_alive, recent_run):
    SchedulerWorker.objects.update(stopped_at=timezone.now())
    code, out = smoke("--base-url", live_server.url)
    assert code == 1
    assert line(out, "scheduler heartbeat").startswith("FAIL")
    assert "scheduler not running: the last one (w1) stopped" in line(out, "scheduler heartbeat")
    # The web app agrees: its health endpoint answers 503 with the same reason.
    assert "503 scheduler not running" in line(out, "api health")
    assert line(out, "synthetic health").startswith("PASS")


def test_it_fails_when_no_run_is_recent(live_server, scheduler_alive, alice_endpoint):
    record_run(alice_endpoint, timezone.now() - timedelta(minutes=10))
    code, out = smoke("--base-url", live_server.url, "--max-run-age", "5m")
    assert code == 1
    assert "FAIL  recent runs" in out and "no run started in the last 5m" in out
    assert smoke("--base-url", live_server.url, "--max-run-age", "15m")[0] == 0


def test_it_fails_fast_when_the_api_is_down(closed_port, scheduler_alive, recent_run):
    started = time.monotonic()
    code, out = smoke("--base-url", f"http://127.0.0.1:{closed_port}")
    assert code == 1
    assert time.monotonic() - started < 5
    assert "ConnectionError" in line(out, "api health")
    assert line(out, "synthetic health").startswith("FAIL")
    assert line(out, "database").startswith("PASS")


def test_a_hung_server_cannot_hang_it(silent_server, scheduler_alive, recent_run):
    started = time.monotonic()
    code, out = smoke("--base-url", f"http://127.0.0.1:{silent_server}", "--timeout", "0.5")
    assert code == 1
    assert time.monotonic() - started < 5
    assert "ReadTimeout" in line(out, "api health")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-run-age", "five"], "--max-run-age 'five' is not a duration"),
        (["--base-url", "127.0.0.1:8000"], "must be an http(s) URL"),
        (["--timeout", "0"], "--timeout '0' must be a number of seconds"),
    ],
)
def test_bad_input_is_exit_2(args, message):
    with pytest.raises(CommandError) as exc:
        call_command("smoke", *args)
    assert exc.value.returncode == 2
    assert message in str(exc.value)

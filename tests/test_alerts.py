"""The alert webhook gets one message when synthetic_health starts failing and one on recovery,
against a local HTTP server; a refused post is retried on the next run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import call_command
from freezegun import freeze_time

from jobs.models import Endpoint, Run
from monitoring.models import AlertState
from synthetic.seeding import seed_synthetic_jobs
from tests.runs import record_run

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class Webhook:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.status = 200
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.messages.append(json.loads(self.rfile.read(length)))
                self.send_response(received.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
    thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def health_probe(settings) -> Endpoint:
    settings.SYNTHETIC_FLAKY_FAILURE_RATE = 0.2
    settings.ALERT_WEBHOOK_URL = ""
    settings.SITE_URL = "http://127.0.0.1:8000"
    seed_synthetic_jobs()
    Endpoint.objects.exclude(name="health").delete()
    return Endpoint.objects.get(name="health")


def check(webhook: Webhook) -> int:
    try:
        call_command(
            "synthetic_health", "--alert-webhook", webhook.url, stdout=StringIO(), stderr=StringIO()
        )
    except SystemExit as exc:
        return int(exc.code)
    return 0


def set_runs(endpoint: Endpoint, status: str) -> None:
    Run.objects.all().delete()
    record_run(endpoint, NOW.replace(second=0, minute=59, hour=11), status=status)


@freeze_time(NOW)
def test_it_alerts_once_on_failure_and_once_on_recovery(webhook, health_probe):
    set_runs(health_probe, Run.Status.SUCCESS)
    assert check(webhook) == 0
    assert webhook.messages == []  # healthy from the start: nothing to say

    set_runs(health_probe, Run.Status.ERROR)
    assert check(webhook) == 1
    assert check(webhook) == 1
    assert len(webhook.messages) == 1
    failure = webhook.messages[0]["text"]
    assert "synthetic_health is FAILING on http://127.0.0.1:8000" in failure
    assert "synthetic-health/health: success 0.0% over 1 runs" in failure

    set_runs(health_probe, Run.Status.SUCCESS)
    assert check(webhook) == 0
    assert check(webhook) == 0
    assert len(webhook.messages) == 2
    assert "synthetic_health has recovered" in webhook.messages[1]["text"]


@freeze_time(NOW)
def test_no_data_counts_as_failing(webhook, health_probe):
    assert check(webhook) == 2
    assert len(webhook.messages) == 1
    assert "no synthetic runs in the last 1h" in webhook.messages[0]["text"]


@freeze_time(NOW)
def test_a_refused_alert_is_sent_again_on_the_next_run(webhook, health_probe):
    set_runs(health_probe, Run.Status.ERROR)
    webhook.status = 503
    assert check(webhook) == 1
    assert not AlertState.objects.get(name="synthetic_health").failing
    webhook.status = 200
    assert check(webhook) == 1
    assert len(webhook.messages) == 2  # the refused one, then the accepted one
    assert AlertState.objects.get(name="synthetic_health").failing


@freeze_time(NOW)
def test_the_setting_supplies_the_webhook(webhook, health_probe, settings):
    settings.ALERT_WEBHOOK_URL = webhook.url
    set_runs(health_probe, Run.Status.ERROR)
    with pytest.raises(SystemExit):
        call_command("synthetic_health", stdout=StringIO(), stderr=StringIO())
    assert len(webhook.messages) == 1

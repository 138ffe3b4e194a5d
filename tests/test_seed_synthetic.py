"""seed_synthetic creates one synthetic job per target and, run again, updates them in place."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.models import Endpoint, Job
from synthetic.seeding import SYSTEM_USERNAME, seed_synthetic_jobs

pytestmark = pytest.mark.django_db

SITE = "http://127.0.0.1:8000"


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = SITE
    settings.SYNTHETIC_FLAKY_FAILURE_RATE = 0.2


def synthetic_endpoints() -> dict[str, Endpoint]:
    return {
        e.name: e for e in Endpoint.objects.filter(job__is_synthetic=True).select_related("job")
    }


def test_it_creates_one_synthetic_job_per_target_owned_by_a_system_user():
    summary = seed_synthetic_jobs()
    assert sorted(summary.created) == [
        "synthetic-echo",
        "synthetic-flaky",
        "synthetic-health",
        "synthetic-slow",
    ]
    endpoints = synthetic_endpoints()
    assert sorted(endpoints) == ["echo", "flaky", "health", "slow"]
    owner = endpoints["health"].job.owner
    assert owner.username == SYSTEM_USERNAME
    assert not owner.has_usable_password()
    assert not owner.is_staff
    assert all(e.job.owner == owner and e.job.is_synthetic for e in endpoints.values())
    assert endpoints["health"].url == f"{SITE}/api/synthetic/health"
    assert endpoints["flaky"].url == f"{SITE}/api/synthetic/flaky?failure_rate=0.2"
    assert endpoints["slow"].url == f"{SITE}/api/synthetic/slow?ms=250"
    echo = endpoints["echo"]
    assert echo.method == "POST"
    assert json.loads(echo.body)
    assert echo.headers == {"Content-Type": "application/json"}
    assert all(30 <= e.interval_seconds <= 60 for e in endpoints.values())
    assert all(e.max_interval_seconds == e.interval_seconds for e in endpoints.values())


def test_seeding_twice_changes_nothing_and_duplicates_nothing():
    seed_synthetic_jobs()
    ids = {name: e.id for name, e in synthetic_endpoints().items()}
    summary = seed_synthetic_jobs()
    assert summary.created == [] and summary.updated == []
    assert len(summary.unchanged) == 4
    assert Job.objects.count() == 4 and Endpoint.objects.count() == 4
    assert {name: e.id for name, e in synthetic_endpoints().items()} == ids


def test_it_updates_jobs_in_place_when_the_site_url_or_the_rate_changes(settings):
    seed_synthetic_jobs()
    ids = {name: e.id for name, e in synthetic_endpoints().items()}
    settings.SYNTHETIC_FLAKY_FAILURE_RATE = 0.5
    summary = seed_synthetic_jobs("https://cron.example.com/")
    assert len(summary.updated) == 4
    endpoints = synthetic_endpoints()
    assert {name: e.id for name, e in endpoints.items()} == ids
    assert endpoints["flaky"].url == "https://cron.example.com/api/synthetic/flaky?failure_rate=0.5"


def test_it_keeps_an_operators_pause(settings):
    seed_synthetic_jobs()
    Job.objects.filter(name="synthetic-slow").update(status=Job.Status.PAUSED)
    seed_synthetic_jobs()
    assert Job.objects.get(name="synthetic-slow").status == Job.Status.PAUSED


def test_it_leaves_other_users_jobs_alone(alice_endpoint):
    seed_synthetic_jobs()
    assert Job.objects.filter(is_synthetic=False).get() == alice_endpoint.job


def test_the_command_prints_a_summary():
    out = StringIO()
    call_command("seed_synthetic", stdout=out)
    assert out.getvalue().startswith("Synthetic jobs: created 4")
    out = StringIO()
    call_command("seed_synthetic", stdout=out)
    assert "created 0, updated 0, unchanged 4" in out.getvalue()


def test_the_command_refuses_a_bad_site_url_with_exit_2():
    with pytest.raises(CommandError, match="Cannot seed synthetic jobs") as excinfo:
        call_command("seed_synthetic", "--site-url", "not a url")
    assert excinfo.value.returncode == 2
    assert Job.objects.count() == 0

"""The admin: jobs with inline endpoints, schedules in words, operator actions through the
controls, read-only runs that stay cheap to list, API keys shown once, the seed button."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from jobs import admin as jobs_admin
from jobs.admin import (
    RunPaginator,
    interval_in_words,
    schedule_in_words,
    upcoming_fire_times,
)
from jobs.admin_forms import save_endpoint
from jobs.models import ApiKey, Endpoint, Job, Run, SchedulerWorker
from jobs.scheduling import control
from jobs.scheduling.governor import PAUSED_FOREVER
from tests.conftest import on_postgres
from tests.runs import record_run

pytestmark = pytest.mark.django_db

JOB_ADD = reverse("admin:jobs_job_add")
JOB_LIST = reverse("admin:jobs_job_changelist")
ENDPOINT_LIST = reverse("admin:jobs_endpoint_changelist")
RUN_LIST = reverse("admin:jobs_run_changelist")


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def two_endpoints(alice_job, alice_endpoint) -> list[Endpoint]:
    second = alice_job.endpoints.create(
        name="reports", url="https://example.com/reports", cron="0 9 * * 1-5"
    )
    return [alice_endpoint, second]


def job_form(name: str, endpoints: list[dict], owner_id: int) -> dict:
    data = {
        "owner": owner_id,
        "name": name,
        "description": "",
        "is_synthetic": "on",
        "status": "active",
        "signing_secret": "",
        "endpoints-TOTAL_FORMS": str(len(endpoints)),
        "endpoints-INITIAL_FORMS": "0",
        "endpoints-MIN_NUM_FORMS": "0",
        "endpoints-MAX_NUM_FORMS": "1000",
    }
    defaults = {
        "method": "GET",
        "headers": "{}",
        "body": "",
        "timeout_seconds": "30",
        "max_response_bytes": "4096",
        "expected_status_codes": "[]",
        "interval_seconds": "",
        "cron": "",
        "timezone": "UTC",
    }
    for index, endpoint in enumerate(endpoints):
        for key, value in {**defaults, **endpoint}.items():
            data[f"endpoints-{index}-{key}"] = value
    return data


# --- Schedules in words -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "every second"),
        (90, "every 90 seconds"),
        (300, "every 5 minutes"),
        (3600, "every hour"),
        (5400, "every 90 minutes"),
        (172800, "every 2 days"),
    ],
)
def test_an_interval_reads_in_the_largest_whole_unit(seconds, words):
    assert interval_in_words(seconds) == words


def test_a_cron_reads_in_plain_language_with_its_timezone():
    endpoint = Endpoint(cron="30 14 * * 1-5", timezone="Europe/Paris")
    assert schedule_in_words(endpoint) == "At 14:30, Monday through Friday (Europe/Paris)"


@freeze_time("2026-03-27 12:00:00")
def test_the_next_five_fire_times_are_on_the_endpoints_own_clock(alice_job):
    endpoint = alice_job.endpoints.create(
        name="morning", url="https://example.com", cron="0 9 * * *", timezone="Europe/Paris"
    )
    times = upcoming_fire_times(endpoint, timezone.now())
    assert [t.strftime("%m-%d %H:%M %Z") for t in times] == [
        "03-28 09:00 CET",
        "03-29 09:00 CEST",  # daylight saving starts that night: still 09:00 on the wall clock
        "03-30 09:00 CEST",
        "03-31 09:00 CEST",
        "04-01 09:00 CEST",
    ]


def test_an_endpoint_paused_indefinitely_has_no_upcoming_runs(alice_endpoint):
    paused = control.pause_endpoint(alice_endpoint)
    assert upcoming_fire_times(paused, timezone.now()) == []


def test_the_endpoint_page_shows_schedule_upcoming_runs_hints_and_pause(
    admin_client, alice_endpoint
):
    control.set_hint(alice_endpoint, interval_seconds=30, ttl_seconds=600, reason="incident")
    control.pause_endpoint(alice_endpoint)
    page = admin_client.get(reverse("admin:jobs_endpoint_change", args=[alice_endpoint.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "every minute" in html
    assert "every 30 seconds" in html and "incident" in html
    assert "paused indefinitely" in html
    assert "Next 5 runs" in html


def test_the_endpoint_page_lists_its_recent_runs(admin_client, alice_endpoint):
    record_run(alice_endpoint, timezone.now(), status=Run.Status.TIMEOUT, status_code=None)
    page = admin_client.get(reverse("admin:jobs_endpoint_change", args=[alice_endpoint.pk]))
    assert "timeout" in page.content.decode()


# --- Jobs: list, one form with its endpoints, validation ------------------------------------------


def test_the_job_list_shows_endpoint_count_last_status_and_success_rate(
    admin_client, two_endpoints
):
    now = timezone.now()
    first, second = two_endpoints
    for minutes in (50, 40, 30):
        record_run(first, now - timedelta(minutes=minutes))
    record_run(second, now - timedelta(minutes=5), status=Run.Status.FAILURE, status_code=500)
    record_run(first, now - timedelta(hours=30), status=Run.Status.FAILURE)  # outside 24 h
    page = admin_client.get(JOB_LIST)
    row = page.content.decode().split('class="field-name"')[1]
    assert '<td class="field-endpoint_count">2</td>' in row
    assert '<td class="field-last_run_status">failure</td>' in row
    assert '<td class="field-success_rate_24h">75.0%</td>' in row


def test_the_job_list_does_one_figures_query_per_page_not_per_job(
    admin_client, alice, django_assert_max_num_queries
):
    for index in range(30):
        job = Job.objects.create(owner=alice, name=f"job-{index}")
        endpoint = job.endpoints.create(name="e", url="https://example.com", interval_seconds=60)
        record_run(endpoint, timezone.now())
    # Session, user, owner choices, two counts, the page, its endpoints, their figures: 8.
    with django_assert_max_num_queries(8):
        assert admin_client.get(JOB_LIST).status_code == 200


def test_the_job_list_filters_by_synthetic_and_searches(admin_client, alice_job, bob):
    Job.objects.create(owner=bob, name="probe", is_synthetic=True)
    synthetic = admin_client.get(JOB_LIST, {"is_synthetic__exact": "1"}).content.decode()
    assert "probe" in synthetic and "billing" not in synthetic
    found = admin_client.get(JOB_LIST, {"q": "bill"}).content.decode()
    assert "billing" in found and "probe" not in found


def test_a_job_and_its_endpoints_are_created_in_one_form(admin_client, alice):
    data = job_form(
        "probes",
        [
            {"name": "health", "url": "https://example.com/health", "interval_seconds": "30"},
            {"name": "nightly", "url": "https://example.com/n", "cron": "0 3 * * *"},
        ],
        alice.pk,
    )
    response = admin_client.post(JOB_ADD, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get(name="probes")
    assert job.is_synthetic and job.owner == alice
    endpoints = {e.name: e for e in job.endpoints.all()}
    assert sorted(endpoints) == ["health", "nightly"]
    assert endpoints["health"].next_run_source == "interval"
    assert endpoints["nightly"].next_run_at.hour == 3


def test_a_bad_cron_is_reported_on_the_cron_field(admin_client, alice):
    data = job_form(
        "probes",
        [{"name": "bad", "url": "https://example.com", "cron": "61 * * * *"}],
        alice.pk,
    )
    response = admin_client.post(JOB_ADD, data)
    assert response.status_code == 200
    inline_form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert "cron" in inline_form.errors
    assert not Job.objects.filter(name="probes").exists()


def test_an_interval_and_a_cron_together_are_refused_on_the_field(admin_client, alice_endpoint):
    url = reverse("admin:jobs_endpoint_change", args=[alice_endpoint.pk])
    data = {
        "job": alice_endpoint.job_id,
        "name": alice_endpoint.name,
        "url": alice_endpoint.url,
        "method": "GET",
        "headers": "{}",
        "body": "",
        "timeout_seconds": "30",
        "max_response_bytes": "4096",
        "expected_status_codes": "[]",
        "interval_seconds": "60",
        "cron": "* * * * *",
        "timezone": "UTC",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["cron"] == [
        "Give either an interval or a cron, not both."
    ]


def test_changing_the_interval_replans_the_endpoint(admin_client, alice_endpoint):
    last = timezone.now() - timedelta(seconds=10)
    Endpoint.objects.filter(pk=alice_endpoint.pk).update(last_run_at=last)
    alice_endpoint.refresh_from_db()
    alice_endpoint.interval_seconds = 600
    save_endpoint(alice_endpoint, ["interval_seconds"])
    alice_endpoint.refresh_from_db()
    assert alice_endpoint.next_run_at == last + timedelta(seconds=600)


def test_saving_an_edit_never_writes_back_the_schedulers_state(alice_endpoint):
    stale = Endpoint.objects.get(pk=alice_endpoint.pk)
    # Meanwhile the scheduler records three failures.
    Endpoint.objects.filter(pk=alice_endpoint.pk).update(failure_count=3)
    stale.name = "renamed"
    save_endpoint(stale, ["name"])
    fresh = Endpoint.objects.get(pk=alice_endpoint.pk)
    assert fresh.name == "renamed"
    assert fresh.failure_count == 3


# --- Actions ------------------------------------------------------------------------------------


def endpoint_action(client, action: str, endpoints: list[Endpoint]):
    return client.post(
        ENDPOINT_LIST,
        {"action": action, "_selected_action": [e.pk for e in endpoints]},
        follow=True,
    )


def test_run_now_requests_a_run_of_each_selected_endpoint(admin_client, two_endpoints):
    response = endpoint_action(admin_client, "run_now", two_endpoints)
    assert "Requested a run of 2 endpoints." in messages_of(response)
    assert Endpoint.objects.filter(run_requested_at__isnull=False).count() == 2


def test_pause_then_resume_endpoints(admin_client, two_endpoints):
    response = endpoint_action(admin_client, "pause", two_endpoints)
    assert "Paused 2 endpoints." in messages_of(response)
    assert set(Endpoint.objects.values_list("paused_until", flat=True)) == {PAUSED_FOREVER}
    response = endpoint_action(admin_client, "resume", two_endpoints[:1])
    assert "Resumed 1 endpoint." in messages_of(response)
    two_endpoints[0].refresh_from_db()
    assert two_endpoints[0].paused_until is None


def test_reset_failures_and_clear_hints(admin_client, alice_endpoint):
    Endpoint.objects.filter(pk=alice_endpoint.pk).update(failure_count=4)
    control.set_hint(alice_endpoint, interval_seconds=30, ttl_seconds=600)
    response = endpoint_action(admin_client, "reset_failures", [alice_endpoint])
    assert "Reset the failure count of 1 endpoint." in messages_of(response)
    response = endpoint_action(admin_client, "clear_hints", [alice_endpoint])
    assert "Cleared the hints of 1 endpoint." in messages_of(response)
    alice_endpoint.refresh_from_db()
    assert alice_endpoint.failure_count == 0
    assert alice_endpoint.hint_interval_seconds is None and alice_endpoint.hint_expires_at is None


def test_the_endpoint_page_has_a_button_per_control(admin_client, alice_endpoint):
    page = reverse("admin:jobs_endpoint_change", args=[alice_endpoint.pk])
    assert 'class="endpoint-control-run_now"' in admin_client.get(page).content.decode()
    url = reverse("admin:jobs_endpoint_control", args=[alice_endpoint.pk, "pause"])
    response = admin_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == page
    assert "Paused 1 endpoint." in messages_of(response)
    alice_endpoint.refresh_from_db()
    assert alice_endpoint.paused_until == PAUSED_FOREVER
    assert admin_client.get(url).status_code == 405
    unknown = reverse("admin:jobs_endpoint_control", args=[alice_endpoint.pk, "explode"])
    assert admin_client.post(unknown).status_code == 404


def test_job_actions_apply_to_all_their_endpoints(admin_client, two_endpoints, alice_job):
    response = admin_client.post(
        JOB_LIST, {"action": "run_now_all", "_selected_action": [alice_job.pk]}, follow=True
    )
    assert "Requested a run of 2 endpoints." in messages_of(response)
    assert Endpoint.objects.filter(run_requested_at__isnull=False).count() == 2


def test_pausing_a_job_pauses_it_and_says_how_many_endpoints(
    admin_client, two_endpoints, alice_job
):
    response = admin_client.post(
        JOB_LIST, {"action": "pause_jobs", "_selected_action": [alice_job.pk]}, follow=True
    )
    assert "Paused 1 job (2 endpoints)." in messages_of(response)
    alice_job.refresh_from_db()
    assert alice_job.status == Job.Status.PAUSED
    admin_client.post(JOB_LIST, {"action": "resume_jobs", "_selected_action": [alice_job.pk]})
    alice_job.refresh_from_db()
    assert alice_job.status == Job.Status.ACTIVE


def test_seed_synthetic_jobs_button(admin_client, settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    url = reverse("admin:jobs_job_seed_synthetic")
    assert 'class="seed-synthetic"' in admin_client.get(JOB_LIST).content.decode()
    response = admin_client.post(url, follow=True)
    assert any(m.startswith("Synthetic jobs: created 4") for m in messages_of(response))
    assert Job.objects.filter(is_synthetic=True).count() == 4
    assert admin_client.get(url).status_code == 405


def test_seeding_with_an_unusable_site_url_says_why_instead_of_failing(admin_client, settings):
    settings.SITE_URL = "ftp://127.0.0.1"
    response = admin_client.post(reverse("admin:jobs_job_seed_synthetic"), follow=True)
    assert response.status_code == 200
    assert any(m.startswith("Cannot seed synthetic jobs:") for m in messages_of(response))
    assert not Job.objects.filter(is_synthetic=True).exists()


# --- Runs ---------------------------------------------------------------------------------------


def test_runs_are_read_only(admin_client, alice_endpoint):
    run = record_run(alice_endpoint, timezone.now())
    assert admin_client.get(reverse("admin:jobs_run_add")).status_code == 403
    page = admin_client.get(reverse("admin:jobs_run_change", args=[run.pk])).content.decode()
    assert 'name="_save"' not in page
    assert admin_client.get(reverse("admin:jobs_run_delete", args=[run.pk])).status_code == 403


def test_a_run_shows_its_response_excerpt_and_timing(admin_client, alice_endpoint):
    run = record_run(alice_endpoint, timezone.now(), duration_ms=250, late_ms=1500)
    Run.objects.filter(pk=run.pk).update(response_excerpt="<ok>all good</ok>")
    page = admin_client.get(reverse("admin:jobs_run_change", args=[run.pk])).content.decode()
    assert "&lt;ok&gt;all good&lt;/ok&gt;" in page
    assert "1500 ms" in page  # lateness
    assert "250" in page  # duration


def test_the_run_list_is_newest_first_and_filters_by_status_and_job(
    admin_client, alice_endpoint, bob
):
    now = timezone.now()
    old = record_run(alice_endpoint, now - timedelta(minutes=5))
    new = record_run(alice_endpoint, now, status=Run.Status.ERROR, status_code=None)
    other_job = Job.objects.create(owner=bob, name="other")
    other = other_job.endpoints.create(name="x", url="https://example.com", interval_seconds=60)
    record_run(other, now - timedelta(minutes=1))
    page = admin_client.get(RUN_LIST)
    assert [r.pk for r in page.context["cl"].result_list][::2] == [new.pk, old.pk]
    errors = admin_client.get(RUN_LIST, {"status__exact": "error"}).context["cl"].result_list
    assert [r.pk for r in errors] == [new.pk]
    by_job = admin_client.get(RUN_LIST, {"endpoint__job__id__exact": other_job.pk})
    assert [r.endpoint_id for r in by_job.context["cl"].result_list] == [other.pk]


def add_successful_runs(endpoint, start, count: int) -> None:
    """`count` quick successful runs, one a second from `start`."""
    Run.objects.bulk_create(
        Run(
            endpoint=endpoint,
            scheduled_for=start + timedelta(seconds=i),
            started_at=start + timedelta(seconds=i),
            finished_at=start + timedelta(seconds=i),
            duration_ms=10,
            status=Run.Status.SUCCESS,
            source=Run.Source.INTERVAL,
        )
        for i in range(count)
    )


def test_the_run_list_does_a_bounded_number_of_queries_with_many_runs(
    admin_client, alice_endpoint, django_assert_max_num_queries
):
    start = timezone.now() - timedelta(hours=2)
    add_successful_runs(alice_endpoint, start, 1500)
    # Session, user, the job filter's choices, the bounded count, the page, the first and last
    # run for the date drill-down: 7, whatever the number of runs (8 with PostgreSQL's estimate).
    with django_assert_max_num_queries(8):
        response = admin_client.get(RUN_LIST)
    assert len(response.context["cl"].result_list) == 100
    with django_assert_max_num_queries(8):
        admin_client.get(RUN_LIST, {"p": "3", "status__exact": "success"})


def test_the_date_drilldown_offers_the_calendar_between_the_first_and_last_run(
    admin_client, alice_endpoint
):
    record_run(alice_endpoint, datetime(2026, 11, 29, 12, tzinfo=UTC))
    record_run(alice_endpoint, datetime(2026, 12, 2, 8, tzinfo=UTC))
    months = admin_client.get(RUN_LIST).context["cl"].date_drilldown
    assert [c["title"] for c in months["choices"]] == ["November 2026", "December 2026"]
    december = admin_client.get(RUN_LIST, {"started_at__year": "2026", "started_at__month": "12"})
    days = december.context["cl"].date_drilldown
    assert [c["title"] for c in days["choices"]] == ["December 2"]
    assert [r.started_at.day for r in december.context["cl"].result_list] == [2]
    nothing = admin_client.get(RUN_LIST, {"status__exact": "timeout"}).context["cl"]
    assert nothing.date_drilldown == {"show": False}


def test_the_run_paginator_counts_exactly_below_its_limit(alice_endpoint, monkeypatch):
    for minutes in range(5):
        record_run(alice_endpoint, timezone.now() - timedelta(minutes=minutes))
    assert RunPaginator(Run.objects.all(), 2).count == 5
    monkeypatch.setattr(jobs_admin, "EXACT_COUNT_LIMIT", 3)
    counted = RunPaginator(Run.objects.all(), 2).count
    if on_postgres():
        assert counted >= 4  # the planner's estimate, never below what was counted
    else:
        assert counted == 4  # the limit reached: "at least"


@pytest.mark.postgres
def test_past_its_limit_the_run_paginator_trusts_the_planner(alice_endpoint, monkeypatch):
    from django.db import connection

    start = datetime(2026, 1, 1, tzinfo=UTC)
    add_successful_runs(alice_endpoint, start, 2000)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Run._meta.db_table}")
    monkeypatch.setattr(jobs_admin, "EXACT_COUNT_LIMIT", 100)
    assert 1500 <= RunPaginator(Run.objects.all(), 100).count <= 2500


# --- Workers, API keys, the index ---------------------------------------------------------------


def test_workers_show_whether_they_are_alive(admin_client):
    now = timezone.now()
    SchedulerWorker.objects.create(
        name="fresh", hostname="h", pid=1, started_at=now, heartbeat_at=now
    )
    SchedulerWorker.objects.create(
        name="dead", hostname="h", pid=2, started_at=now, heartbeat_at=now - timedelta(hours=1)
    )
    page = admin_client.get(reverse("admin:jobs_schedulerworker_changelist"))
    alive = {w.name: w.is_alive for w in page.context["cl"].result_list}
    assert alive == {"fresh": True, "dead": False}


def test_creating_an_api_key_shows_it_once(admin_client, alice):
    response = admin_client.post(
        reverse("admin:jobs_apikey_add"), {"owner": alice.pk, "name": "ci"}, follow=True
    )
    shown = [m for m in messages_of(response) if "The API key for ci is:" in m]
    assert len(shown) == 1
    key = re.search(r"is: (\S+)\. Please", shown[0]).group(1)
    assert ApiKey.objects.is_valid(key)
    assert ApiKey.objects.get().owner == alice
    change = admin_client.get(reverse("admin:jobs_apikey_change", args=[ApiKey.objects.get().pk]))
    assert key not in change.content.decode()


def test_the_index_links_to_the_dashboard(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:cronicorn_dashboard") in page

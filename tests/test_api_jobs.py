"""/api/jobs/: create with nested endpoints, read, update, delete, filters, pause and resume."""

from __future__ import annotations

import pytest

from jobs.models import Endpoint, Job

pytest_plugins = ["tests.api_fixtures"]
pytestmark = pytest.mark.django_db

NEW_JOB = {
    "name": "reports",
    "is_synthetic": True,
    "endpoints": [
        {
            "name": "daily",
            "url": "https://example.com/daily",
            "method": "POST",
            "cron": "0 6 * * *",
            "timezone": "Europe/Paris",
        },
        {"name": "ping", "url": "https://example.com/ping", "interval_seconds": 60},
    ],
}


def test_it_creates_a_job_with_its_endpoints_scheduled(alice, alice_api):
    response = alice_api.post("/api/jobs/", NEW_JOB)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["is_synthetic"] is True
    assert body["status"] == "active"
    assert [e["name"] for e in body["endpoints"]] == ["daily", "ping"]
    job = Job.objects.get(pk=body["id"])
    assert job.owner == alice
    # Every endpoint is planned at once: the scheduler finds it due without further help.
    assert all(e.next_run_at is not None for e in job.endpoints.all())
    assert Endpoint.objects.get(job=job, name="daily").next_run_source == "cron"


def test_it_creates_a_job_without_endpoints(alice_api):
    response = alice_api.post("/api/jobs/", {"name": "empty"})
    assert response.status_code == 201
    assert response.json()["endpoints"] == []


def test_a_job_with_an_invalid_endpoint_is_not_created_at_all(alice_api):
    payload = {**NEW_JOB, "endpoints": [NEW_JOB["endpoints"][1], {"name": "bad", "url": "ftp://x"}]}
    response = alice_api.post("/api/jobs/", payload)
    assert response.status_code == 400
    # Errors are keyed by the position of the endpoint in the list.
    assert response.json() == {"endpoints": {"1": {"url": ["Enter an http:// or https:// URL."]}}}
    assert not Job.objects.exists()


def test_it_lists_and_reads_jobs_with_their_endpoints(alice_api, alice_endpoint):
    listing = alice_api.get("/api/jobs/").json()
    assert listing["count"] == 1
    job = listing["results"][0]
    assert job["endpoints"][0]["url"] == "https://example.com/invoices"
    assert alice_api.get(f"/api/jobs/{job['id']}/").json()["name"] == "billing"


def test_it_filters_jobs_by_is_synthetic_and_status(alice, alice_api):
    Job.objects.create(owner=alice, name="probe", is_synthetic=True)
    Job.objects.create(owner=alice, name="real")
    Job.objects.create(owner=alice, name="old", status=Job.Status.PAUSED)

    def names(query):
        return [j["name"] for j in alice_api.get(f"/api/jobs/?{query}").json()["results"]]

    assert names("is_synthetic=true") == ["probe"]
    assert names("is_synthetic=false") == ["old", "real"]
    assert names("status=paused") == ["old"]


def test_it_updates_a_job_but_not_its_endpoints(alice_api, alice_endpoint):
    job_id = alice_endpoint.job_id
    response = alice_api.patch(
        f"/api/jobs/{job_id}/", {"description": "money", "is_synthetic": True}
    )
    assert response.status_code == 200
    assert Job.objects.get(pk=job_id).description == "money"
    refused = alice_api.patch(f"/api/jobs/{job_id}/", {"endpoints": []})
    assert refused.status_code == 400
    assert "/api/endpoints/" in refused.json()["endpoints"][0]
    assert Endpoint.objects.filter(job_id=job_id).count() == 1


def test_a_signing_secret_is_written_but_never_shown(alice_api, alice_job):
    response = alice_api.patch(f"/api/jobs/{alice_job.pk}/", {"signing_secret": "s3cret"})
    assert response.status_code == 200
    assert "signing_secret" not in response.json()
    assert response.json()["has_signing_secret"] is True


def test_it_deletes_a_job_and_its_endpoints(alice_api, alice_endpoint):
    assert alice_api.delete(f"/api/jobs/{alice_endpoint.job_id}/").status_code == 204
    assert not Endpoint.objects.exists()


def test_pause_and_resume_change_the_job_status(alice_api, alice_job):
    paused = alice_api.post(f"/api/jobs/{alice_job.pk}/pause/")
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    assert Job.objects.get(pk=alice_job.pk).status == Job.Status.PAUSED
    resumed = alice_api.post(f"/api/jobs/{alice_job.pk}/resume/")
    assert resumed.json()["status"] == "active"


def test_lists_are_paginated_with_a_capped_page_size(alice, alice_api, settings):
    for i in range(3):
        Job.objects.create(owner=alice, name=f"job{i}")
    page = alice_api.get("/api/jobs/?page_size=2").json()
    assert [j["name"] for j in page["results"]] == ["job0", "job1"]
    assert page["next"].endswith("page=2&page_size=2")
    assert alice_api.get("/api/jobs/?page=9").status_code == 404

"""Every validation rule of the API answers 400 with a message on the field at fault."""

from __future__ import annotations

import pytest

from jobs.models import Endpoint, Job

pytest_plugins = ["tests.api_fixtures"]
pytestmark = pytest.mark.django_db

VALID = {"name": "e", "url": "https://example.com/x", "interval_seconds": 60}


def create(client, job, **changes):
    payload = {**VALID, "job": job.pk, **changes}
    return client.post("/api/endpoints/", {k: v for k, v in payload.items() if v is not ...})


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"url": "ftp://example.com/"}, "url", "Enter an http:// or https:// URL."),
        ({"url": "not a url"}, "url", "Enter an http:// or https:// URL."),
        ({"url": "https://example.com/" + "a" * 2100}, "url", "no more than 2048"),
        ({"method": "FETCH"}, "method", "not a valid choice"),
        ({"headers": {"Bad Name": "x"}}, "headers", "not a valid header name"),
        ({"headers": {"X-A": "one\r\nX-B: two"}}, "headers", "must not contain line breaks"),
        ({"headers": {"Idempotency-Key": "mine"}}, "headers", "set by Cronicorn"),
        ({"headers": ["X-A"]}, "headers", "Expected a dictionary"),
        ({"interval_seconds": 0}, "interval_seconds", "greater than or equal to 1"),
        ({"interval_seconds": 10**9}, "interval_seconds", "less than or equal to"),
        ({"timeout_seconds": 0}, "timeout_seconds", "greater than or equal to 1"),
        ({"timeout_seconds": 601}, "timeout_seconds", "less than or equal to 600"),
        ({"interval_seconds": ..., "cron": "61 * * * *"}, "cron", "Invalid cron"),
        ({"interval_seconds": ..., "cron": "* * *"}, "cron", "five fields"),
        ({"interval_seconds": ..., "cron": "0 0 30 2 *"}, "cron", "never fires"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Unknown timezone"),
        ({"cron": "* * * * *"}, "cron", "either an interval or a cron"),
        ({"interval_seconds": ...}, "interval_seconds", "interval in seconds or a cron"),
        (
            {"min_interval_seconds": 600, "max_interval_seconds": 60},
            "min_interval_seconds",
            "must not exceed the maximum",
        ),
        ({"expected_status_codes": [200, 700]}, "expected_status_codes", "less than or equal"),
        ({"max_response_bytes": 2 * 1024 * 1024}, "max_response_bytes", "less than or equal"),
        ({"next_run_at": "2030-01-01T00:00:00Z"}, "next_run_at", "read-only"),
        ({"colour": "blue"}, "colour", "Unknown field."),
    ],
)
def test_it_rejects_an_invalid_endpoint(alice_api, alice_job, changes, field, message):
    response = create(alice_api, alice_job, **changes)
    assert response.status_code == 400
    assert message in str(response.json()[field]), response.json()
    assert not Endpoint.objects.exists()


def test_the_body_size_is_capped_by_a_setting(alice_api, alice_job, settings):
    settings.API_MAX_BODY_BYTES = 10
    assert create(alice_api, alice_job, body="x" * 10).status_code == 201
    response = create(alice_api, alice_job, name="big", body="é" * 6)  # 12 bytes
    assert response.status_code == 400
    assert response.json() == {"body": ["The body may be at most 10 bytes."]}


def test_the_header_size_is_capped_by_a_setting(alice_api, alice_job, settings):
    settings.API_MAX_HEADER_BYTES = 20
    response = create(alice_api, alice_job, headers={"X-Token": "a" * 20})
    assert response.status_code == 400
    assert response.json() == {"headers": ["Headers may be at most 20 bytes in all."]}


def test_a_partial_update_is_checked_against_the_stored_fields(alice_api, alice_endpoint):
    response = alice_api.patch(f"/api/endpoints/{alice_endpoint.pk}/", {"cron": "0 * * * *"})
    assert response.status_code == 400
    assert response.json() == {"cron": ["Give either an interval or a cron, not both."]}
    alice_endpoint.refresh_from_db()
    assert alice_endpoint.cron == ""


def test_endpoint_names_are_unique_within_a_job(alice_api, alice_endpoint):
    response = create(alice_api, alice_endpoint.job, name="invoices")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    nested = alice_api.post("/api/jobs/", {"name": "twins", "endpoints": [VALID, VALID]})
    assert nested.status_code == 400
    assert nested.json() == {"endpoints": ["Endpoint names must be unique within a job: e."]}


def test_job_names_are_unique_per_owner(alice_api, bob_api, alice_job):
    response = alice_api.post("/api/jobs/", {"name": "billing"})
    assert response.status_code == 400
    assert response.json() == {"name": ["You already have a job with this name."]}
    # Another user's job name is no conflict (and no hint that it exists).
    assert bob_api.post("/api/jobs/", {"name": "billing"}).status_code == 201


def test_unknown_fields_are_rejected_on_jobs_and_nested_endpoints(alice_api):
    response = alice_api.post(
        "/api/jobs/", {"name": "j", "owner": 2, "endpoints": [{**VALID, "retries": 3}]}
    )
    assert response.status_code == 400
    assert response.json() == {"owner": ["Unknown field."]}
    response = alice_api.post("/api/jobs/", {"name": "j", "endpoints": [{**VALID, "retries": 3}]})
    assert response.json() == {"endpoints": {"0": {"retries": ["Unknown field."]}}}


def test_the_number_of_jobs_per_user_is_capped(alice, alice_api, settings):
    settings.API_MAX_JOBS_PER_USER = 1
    assert alice_api.post("/api/jobs/", {"name": "one"}).status_code == 201
    response = alice_api.post("/api/jobs/", {"name": "two"})
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["You may have at most 1 jobs."]}


def test_the_number_of_endpoints_per_user_is_capped(alice_api, alice_endpoint, settings):
    settings.API_MAX_ENDPOINTS_PER_USER = 2
    assert create(alice_api, alice_endpoint.job, name="second").status_code == 201
    response = create(alice_api, alice_endpoint.job, name="third")
    assert response.status_code == 400
    assert "at most 2 endpoints" in response.json()["non_field_errors"][0]
    nested = alice_api.post("/api/jobs/", {"name": "more", "endpoints": [VALID]})
    assert nested.status_code == 400
    assert not Job.objects.filter(name="more").exists()


def test_malformed_json_is_a_400(alice_api):
    response = alice_api.post("/api/jobs/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_an_oversized_request_is_a_json_413(alice_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = alice_api.post("/api/jobs/", {"name": "x", "description": "a" * 2000})
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than 1000 bytes."}


def test_a_body_that_is_not_json_is_a_415(alice_api):
    response = alice_api.post(
        "/api/jobs/", "name=x", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]

"""/api/endpoints/: CRUD, filters, and replanning when the schedule changes."""

from __future__ import annotations

import pytest

from jobs.models import Endpoint, Job

pytest_plugins = ["tests.api_fixtures"]
pytestmark = pytest.mark.django_db


def test_it_creates_an_endpoint_in_one_of_my_jobs(alice_api, alice_job):
    response = alice_api.post(
        "/api/endpoints/",
        {
            "job": alice_job.pk,
            "name": "refunds",
            "url": "https://example.com/refunds",
            "method": "PUT",
            "headers": {"Authorization": "Bearer abc"},
            "body": '{"all": true}',
            "expected_status_codes": [200, 204],
            "interval_seconds": 300,
        },
    )
    assert response.status_code == 201, response.json()
    endpoint = Endpoint.objects.get(pk=response.json()["id"])
    assert endpoint.headers == {"Authorization": "Bearer abc"}
    assert endpoint.next_run_at is not None
    assert response.json()["next_run_at"] is not None


def test_it_lists_and_filters_endpoints(alice, alice_api, alice_endpoint):
    probe = Job.objects.create(owner=alice, name="probe", is_synthetic=True)
    Endpoint.objects.create(job=probe, name="health", url="https://e.com/h", interval_seconds=30)

    def names(query):
        return [e["name"] for e in alice_api.get(f"/api/endpoints/?{query}").json()["results"]]

    assert names("") == ["invoices", "health"]
    assert names(f"job={probe.pk}") == ["health"]
    assert names("is_synthetic=false") == ["invoices"]


def test_changing_the_schedule_replans_the_endpoint(alice_api, alice_endpoint):
    response = alice_api.patch(
        f"/api/endpoints/{alice_endpoint.pk}/",
        {"interval_seconds": None, "cron": "30 2 * * *", "timezone": "America/New_York"},
    )
    assert response.status_code == 200, response.json()
    alice_endpoint.refresh_from_db()
    assert alice_endpoint.next_run_source == "cron"
    assert response.json()["next_run_at"] == alice_endpoint.next_run_at.isoformat().replace(
        "+00:00", "Z"
    )


def test_an_edit_leaves_the_scheduler_columns_alone(alice_api, alice_endpoint):
    # A run finished between the client's read and its write: the edit must not undo it.
    Endpoint.objects.filter(pk=alice_endpoint.pk).update(failure_count=3)
    response = alice_api.patch(f"/api/endpoints/{alice_endpoint.pk}/", {"name": "renamed"})
    assert response.status_code == 200
    alice_endpoint.refresh_from_db()
    assert (alice_endpoint.name, alice_endpoint.failure_count) == ("renamed", 3)


def test_a_full_update_replaces_the_endpoint(alice_api, alice_endpoint):
    response = alice_api.put(
        f"/api/endpoints/{alice_endpoint.pk}/",
        {
            "job": alice_endpoint.job_id,
            "name": "v2",
            "url": "http://example.org/",
            "interval_seconds": 120,
        },
    )
    assert response.status_code == 200, response.json()
    alice_endpoint.refresh_from_db()
    assert (alice_endpoint.url, alice_endpoint.interval_seconds) == ("http://example.org/", 120)


def test_it_deletes_an_endpoint(alice_api, alice_endpoint):
    assert alice_api.delete(f"/api/endpoints/{alice_endpoint.pk}/").status_code == 204
    assert not Endpoint.objects.exists()


def test_a_non_numeric_id_is_a_json_404(alice_api):
    response = alice_api.get("/api/endpoints/abc/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}

"""Tenancy: every route answers a user about their own objects only; another user's object is a
404, exactly like one that does not exist."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.models import Endpoint, Job, Run

pytest_plugins = ["tests.api_fixtures"]
pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def alice_run(alice_endpoint) -> Run:
    return Run.objects.create(
        endpoint=alice_endpoint, scheduled_for=T0, started_at=T0, finished_at=T0,
        duration_ms=5, status="success", source="interval",
    )  # fmt: skip


def routes_of(job: Job, endpoint: Endpoint, run: Run) -> list[tuple[str, str, dict | None]]:
    """Every route that names an object, with a payload that would be valid for its owner."""
    e = f"/api/endpoints/{endpoint.pk}"
    return [
        ("get", f"/api/jobs/{job.pk}/", None),
        ("put", f"/api/jobs/{job.pk}/", {"name": "taken"}),
        ("patch", f"/api/jobs/{job.pk}/", {"name": "taken"}),
        ("delete", f"/api/jobs/{job.pk}/", None),
        ("post", f"/api/jobs/{job.pk}/pause/", None),
        ("post", f"/api/jobs/{job.pk}/resume/", None),
        ("get", f"{e}/", None),
        (
            "put",
            f"{e}/",
            {"job": job.pk, "name": "x", "url": "https://e.com/", "interval_seconds": 5},
        ),
        ("patch", f"{e}/", {"name": "taken"}),
        ("delete", f"{e}/", None),
        ("post", f"{e}/pause/", {}),
        ("post", f"{e}/resume/", None),
        ("post", f"{e}/run_now/", None),
        ("post", f"{e}/hints/", {"interval_seconds": 60, "ttl_seconds": 60}),
        ("post", f"{e}/clear_hints/", None),
        ("post", f"{e}/reset_failures/", None),
        ("get", f"{e}/next_runs/", None),
        ("get", f"{e}/stats/", None),
        ("get", f"/api/runs/{run.pk}/", None),
    ]


def test_every_route_hides_another_users_objects(bob_api, alice_endpoint, alice_run):
    before = Endpoint.objects.values().get(pk=alice_endpoint.pk)
    for method, url, payload in routes_of(alice_endpoint.job, alice_endpoint, alice_run):
        response = getattr(bob_api, method)(url, payload)
        assert response.status_code == 404, (method, url, response.status_code)
        # The same answer as for an id that does not exist.
        assert response.json()["detail"].endswith("matches the given query.")
    assert Endpoint.objects.values().get(pk=alice_endpoint.pk) == before
    assert Job.objects.get(pk=alice_endpoint.job_id).name == "billing"


def test_the_owner_reaches_every_route(alice_api, alice_endpoint, alice_run):
    # The same table for alice: the 404s above come from tenancy, not from bad requests.
    for method, url, payload in routes_of(alice_endpoint.job, alice_endpoint, alice_run):
        if method == "delete":
            continue
        response = getattr(alice_api, method)(url, payload)
        assert response.status_code in {200, 202}, (method, url, response.json())


def test_lists_show_only_my_objects(bob_api, alice_endpoint, alice_run):
    for url in ["/api/jobs/", "/api/endpoints/", "/api/runs/"]:
        assert bob_api.get(url).json()["results"] == []
    # Filtering by another user's ids finds nothing rather than an error that confirms them.
    assert bob_api.get(f"/api/runs/?job={alice_endpoint.job_id}").json()["results"] == []
    assert bob_api.get(f"/api/endpoints/?job={alice_endpoint.job_id}").json()["results"] == []


def test_i_cannot_add_or_move_an_endpoint_into_another_users_job(
    bob, bob_api, alice_job, alice_endpoint
):
    payload = {
        "job": alice_job.pk,
        "name": "sneaky",
        "url": "https://e.com/",
        "interval_seconds": 5,
    }
    response = bob_api.post("/api/endpoints/", payload)
    assert response.status_code == 400
    assert response.json() == {"job": [f'Invalid pk "{alice_job.pk}" - object does not exist.']}
    bobs = Job.objects.create(owner=bob, name="mine")
    mine = Endpoint.objects.create(job=bobs, name="e", url="https://e.com/", interval_seconds=5)
    moved = bob_api.patch(f"/api/endpoints/{mine.pk}/", {"job": alice_job.pk})
    assert moved.status_code == 400
    assert Endpoint.objects.filter(job=alice_job).count() == 1


def test_staff_see_only_their_own_objects_in_the_api(bob, bob_api, alice_endpoint):
    bob.is_staff = bob.is_superuser = True
    bob.save()
    assert bob_api.get("/api/jobs/").json()["results"] == []
    assert bob_api.get(f"/api/endpoints/{alice_endpoint.pk}/").status_code == 404

"""API authentication: X-API-Key (valid, missing, unknown, revoked, expired), session auth, and
throttling per key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from jobs.models import ApiKey

pytest_plugins = ["tests.api_fixtures"]
pytestmark = pytest.mark.django_db


def with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


def test_a_valid_key_acts_as_its_owner(alice, alice_job, fresh_throttle):
    _, key = ApiKey.objects.create_key(name="ci", owner=alice)
    response = with_key(key).get("/api/jobs/")
    assert response.status_code == 200
    assert [job["name"] for job in response.json()["results"]] == ["billing"]


def test_no_key_is_a_401_with_a_challenge(anonymous_api):
    response = anonymous_api.get("/api/jobs/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "X-API-Key"
    assert "credentials were not provided" in response.json()["detail"]


@pytest.mark.parametrize("key", ["nonsense", "abcdefgh.wrongsecret", ""])
def test_an_unknown_or_empty_key_is_a_401(alice, fresh_throttle, key):
    ApiKey.objects.create_key(name="ci", owner=alice)
    response = with_key(key).get("/api/jobs/")
    assert response.status_code == 401
    assert response.json()["detail"] in {"Invalid API key.", "The X-API-Key header is empty."}


def test_a_key_with_the_right_prefix_and_a_wrong_secret_is_refused(alice, fresh_throttle):
    api_key, _ = ApiKey.objects.create_key(name="ci", owner=alice)
    response = with_key(f"{api_key.prefix}.not-the-secret").get("/api/jobs/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key."}


def test_a_revoked_key_is_told_so(alice, fresh_throttle):
    api_key, key = ApiKey.objects.create_key(name="ci", owner=alice)
    api_key.revoked = True
    api_key.save()
    response = with_key(key).get("/api/jobs/")
    assert response.status_code == 401
    assert response.json() == {"detail": "This API key has been revoked."}


def test_an_expired_key_is_told_so(alice, fresh_throttle):
    _, key = ApiKey.objects.create_key(
        name="ci", owner=alice, expiry_date=timezone.now() - timedelta(seconds=1)
    )
    response = with_key(key).get("/api/jobs/")
    assert response.status_code == 401
    assert response.json() == {"detail": "This API key has expired."}


def test_the_key_of_an_inactive_user_is_refused(alice, fresh_throttle):
    _, key = ApiKey.objects.create_key(name="ci", owner=alice)
    alice.is_active = False
    alice.save()
    assert with_key(key).get("/api/jobs/").status_code == 401


def test_a_logged_in_session_uses_the_browsable_api(alice, alice_job, fresh_throttle, settings):
    # Tests run without collectstatic: serve the page's assets without the manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client = APIClient()
    client.force_login(alice)
    response = client.get("/api/jobs/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"billing" in response.content
    assert client.get("/api/").status_code == 200


def test_a_session_write_needs_the_csrf_token(alice, fresh_throttle):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/jobs/", {"name": "x"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_requests_beyond_the_rate_get_429_with_retry_after(alice_api, bob_api):
    with override_settings(API_THROTTLE_RATE="3/minute"):
        statuses = [alice_api.get("/api/jobs/").status_code for _ in range(4)]
        # The limit is per key: bob is not slowed down by alice.
        bob_status = bob_api.get("/api/jobs/").status_code
        refused = alice_api.get("/api/jobs/")
    assert statuses == [200, 200, 200, 429]
    assert bob_status == 200
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60

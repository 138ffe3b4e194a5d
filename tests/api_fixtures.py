"""Fixtures of the API tests (loaded with `pytest_plugins`): API clients for alice and bob,
each authenticated with a real key, and a client without one."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from jobs.models import ApiKey


@pytest.fixture
def fresh_throttle():
    # Throttle counters live in the cache, which outlives a test.
    cache.clear()
    yield
    cache.clear()


def client_for(user) -> APIClient:
    _, key = ApiKey.objects.create_key(name="tests", owner=user)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


@pytest.fixture
def alice_api(alice, fresh_throttle) -> APIClient:
    return client_for(alice)


@pytest.fixture
def bob_api(bob, fresh_throttle) -> APIClient:
    return client_for(bob)


@pytest.fixture
def anonymous_api(fresh_throttle) -> APIClient:
    return APIClient()

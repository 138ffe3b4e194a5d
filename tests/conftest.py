"""Shared fixtures: the personas alice and bob, and the engine and browser markers.

`@pytest.mark.postgres` tests are skipped on SQLite; `@pytest.mark.browser` tests are skipped
where Chromium is not installed. .ci/run provides both.
"""

from __future__ import annotations

import shutil

import pytest
from django.conf import settings

from jobs.models import Endpoint, Job

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(
        reason="needs PostgreSQL: set DATABASE_URL=postgres://... (.ci/run does)"
    )
    skip_browser = pytest.mark.skip(
        reason="needs Chromium: apt-get install chromium (.ci/run does)"
    )
    for item in items:
        if "postgres" in item.keywords and not on_postgres():
            item.add_marker(skip_pg)
        if "browser" in item.keywords and not CHROMIUM:
            item.add_marker(skip_browser)


@pytest.fixture(autouse=True)
def _test_only_settings(settings):
    """A fast password hasher, and static files served from the apps (collectstatic does not run
    for tests, and the production manifest storage would refuse every admin page)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "alice-password-1")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", "bob-password-1")


@pytest.fixture
def alice_job(alice) -> Job:
    return Job.objects.create(owner=alice, name="billing")


@pytest.fixture
def alice_endpoint(alice_job) -> Endpoint:
    return Endpoint.objects.create(
        job=alice_job, name="invoices", url="https://example.com/invoices", interval_seconds=60
    )

"""The admin in a real browser (Playwright driving Debian's Chromium): an operator creates a
synthetic job with two endpoints, is told about a bad cron on its field, runs an endpoint now,
sees the run, and opens the dashboard. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from playwright.sync_api import sync_playwright

from jobs.models import Endpoint, Job, Run
from jobs.scheduling.worker import Worker, WorkerOptions
from tests.conftest import CHROMIUM

# Playwright's sync API keeps an event loop running in this thread; the ORM calls made here
# between page steps are ordinary blocking calls all the same.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = pytest.mark.browser

ARTIFACTS = Path(django_settings.BASE_DIR) / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "browser-password-1"
TIMEOUT_MS = 15_000


@pytest.fixture
def page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context.new_page()
        finally:
            # With Playwright's loop running, Django keeps this code's database connection apart
            # from the thread's own: close it here, or it outlives the test database.
            connection.close()
            context.close()
            browser.close()


def test_an_operator_creates_a_synthetic_job_runs_it_and_watches_the_dashboard(
    page, live_server, django_user_model
):
    ARTIFACTS.mkdir(exist_ok=True)
    django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)
    target = f"{live_server.url}/api/synthetic/health"

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#cronicorn-dashboard-link")

    # One form: the job and its two endpoints (the second one with a cron that cannot fire).
    page.goto(f"{live_server.url}/admin/jobs/job/add/")
    assert page.locator("#id_owner option:checked").inner_text() == "operator"  # the default
    page.fill("#id_name", "browser-probes")
    page.check("#id_is_synthetic")
    add_endpoint = page.locator("#endpoints-group .add-row a")
    add_endpoint.click()
    add_endpoint.click()
    page.fill("#id_endpoints-0-name", "health")
    page.fill("#id_endpoints-0-url", target)
    page.fill("#id_endpoints-0-interval_seconds", "3600")
    page.fill("#id_endpoints-1-name", "yearly")
    page.fill("#id_endpoints-1-url", target)
    page.fill("#id_endpoints-1-cron", "61 * * * *")
    page.click("input[name=_continue]")

    page.wait_for_selector("p.errornote")
    assert "Invalid cron '61 * * * *'" in page.locator("#id_endpoints-1-cron_error").inner_text()
    assert page.get_attribute("#id_endpoints-1-cron", "aria-invalid") == "true"
    assert not Job.objects.filter(name="browser-probes").exists()

    page.fill("#id_endpoints-1-cron", "0 0 1 1 *")
    page.click("input[name=_continue]")
    page.wait_for_selector("ul.messagelist li.success")
    job = Job.objects.get(name="browser-probes")
    assert job.is_synthetic and job.endpoints.count() == 2
    yearly = job.endpoints.get(name="yearly")

    # Run the yearly endpoint now: the only way it can run today.
    page.goto(f"{live_server.url}/admin/jobs/endpoint/?job__id__exact={job.pk}")
    page.check(f"input[name=_selected_action][value='{yearly.pk}']")
    page.select_option("select[name=action]", "run_now")
    page.click("button[name=index]")
    assert "Requested a run of 1 endpoint." in page.locator("ul.messagelist").inner_text()

    # No scheduler process runs here: one pass of the worker in this process serves the request.
    Worker(WorkerOptions(shutdown_timeout=5)).run_once()
    run = Run.objects.get(endpoint=yearly)
    assert (run.source, run.status, run.status_code) == ("manual", "success", 200)

    page.goto(f"{live_server.url}/admin/jobs/endpoint/{yearly.pk}/change/")
    recent = page.locator(".field-recent_runs").inner_text()
    assert "manual" in recent and "success" in recent
    assert "At 00:00, on day 1 of the month, only in January (UTC)" in page.content()

    page.goto(f"{live_server.url}/admin/jobs/job/{job.pk}/change/")
    page.wait_for_selector("#endpoints-group")
    page.screenshot(path=str(ARTIFACTS / "admin-job.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/")
    page.click("#cronicorn-dashboard-link a")
    verdict = page.locator("#overall-verdict").inner_text().strip().lower()
    assert verdict in {"green", "amber", "red"}
    probes = page.locator("tr.probe")
    assert probes.count() == Endpoint.objects.filter(job__is_synthetic=True).count() == 2
    assert page.locator("svg.chart").count() == 2
    page.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)

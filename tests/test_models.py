"""Model-level validation: each rule, with the message a user sees."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from jobs.models import Endpoint

pytestmark = pytest.mark.django_db


def errors_of(endpoint: Endpoint) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        endpoint.full_clean()
    return caught.value.message_dict


def endpoint(job, **fields) -> Endpoint:
    defaults = {"name": "ping", "url": "https://example.com/ping", "interval_seconds": 60}
    return Endpoint(job=job, **{**defaults, **fields})


def test_a_valid_interval_endpoint_passes(alice_job):
    endpoint(alice_job).full_clean()


def test_a_valid_cron_endpoint_in_a_timezone_passes(alice_job):
    endpoint(
        alice_job, interval_seconds=None, cron="30 9 * * 1-5", timezone="Europe/Paris"
    ).full_clean()


def test_it_needs_an_interval_or_a_cron(alice_job):
    errors = errors_of(endpoint(alice_job, interval_seconds=None))
    assert errors["interval_seconds"] == ["Give an interval in seconds or a cron expression."]


def test_it_refuses_both_an_interval_and_a_cron(alice_job):
    errors = errors_of(endpoint(alice_job, cron="* * * * *"))
    assert errors["cron"] == ["Give either an interval or a cron, not both."]


def test_interval_must_be_at_least_one_second(alice_job):
    errors = errors_of(endpoint(alice_job, interval_seconds=0))
    assert errors["interval_seconds"] == ["Ensure this value is greater than or equal to 1."]


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("* * *", "A cron has five fields (minute hour day-of-month month day-of-week); got 3."),
        ("61 * * * *", "Invalid cron '61 * * * *'"),
        ("0 0 30 2 *", "The cron '0 0 30 2 *' never fires."),
    ],
)
def test_cron_must_parse_and_fire(alice_job, cron, message):
    errors = errors_of(endpoint(alice_job, interval_seconds=None, cron=cron))
    assert errors["cron"][0].startswith(message)


def test_timezone_must_exist(alice_job):
    errors = errors_of(endpoint(alice_job, timezone="Mars/Olympus_Mons"))
    assert errors["timezone"] == [
        "Unknown timezone 'Mars/Olympus_Mons': use an IANA name such as UTC or Europe/Paris."
    ]


def test_min_interval_must_not_exceed_max(alice_job):
    errors = errors_of(endpoint(alice_job, min_interval_seconds=600, max_interval_seconds=60))
    assert errors["min_interval_seconds"] == ["The minimum interval must not exceed the maximum."]


@pytest.mark.parametrize(
    "url", ["ftp://example.com/file", "file:///etc/passwd", "javascript:alert(1)", "example.com"]
)
def test_url_must_be_http_or_https(alice_job, url):
    errors = errors_of(endpoint(alice_job, url=url))
    assert errors["url"] == ["Enter an http:// or https:// URL."]


def test_url_length_is_bounded(alice_job):
    errors = errors_of(endpoint(alice_job, url="https://example.com/" + "a" * 2100))
    assert "Ensure this value has at most 2048 characters (it has 2120)." in errors["url"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Bad Header": "x"}, "'Bad Header' is not a valid header name."),
        (
            {"X-Evil": "a\r\nInjected: yes"},
            "The value of header 'X-Evil' must not contain line breaks.",
        ),
        (
            {"Idempotency-Key": "mine"},
            "The header 'Idempotency-Key' is set by Cronicorn and cannot be overridden.",
        ),
        ({"X-Count": 3}, "The value of header 'X-Count' must be a string."),
        (["not", "a", "dict"], 'Headers must be an object like {"Authorization": "Bearer ..."}.'),
    ],
)
def test_headers_are_checked(alice_job, headers, message):
    errors = errors_of(endpoint(alice_job, headers=headers))
    assert errors["headers"] == [message]


def test_expected_status_codes_must_be_http_codes(alice_job):
    errors = errors_of(endpoint(alice_job, expected_status_codes=[200, 999]))
    assert errors["expected_status_codes"] == [
        "Expected status codes must be a list of HTTP codes (100-599)."
    ]


def test_timeout_is_bounded(alice_job):
    errors = errors_of(endpoint(alice_job, timeout_seconds=3600))
    assert errors["timeout_seconds"] == ["Ensure this value is less than or equal to 600."]

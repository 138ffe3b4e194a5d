"""The synthetic targets answer as the synthetic jobs expect, and bad parameters get a 400."""

from __future__ import annotations

import pytest
from freezegun import freeze_time


@freeze_time("2026-12-03 12:00:00")
def test_health_reports_ok_and_the_server_time(client):
    response = client.get("/api/synthetic/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "time": "2026-12-03T12:00:00+00:00"}


def test_echo_returns_the_json_body_it_received(client):
    body = {"hello": "world", "n": [1, 2, 3]}
    response = client.post("/api/synthetic/echo", body, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == body


def test_echo_refuses_invalid_json(client):
    response = client.post("/api/synthetic/echo", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]


def test_echo_only_accepts_post(client):
    assert client.get("/api/synthetic/echo").status_code == 405


def test_slow_sleeps_the_requested_time(client, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("synthetic.views.time.sleep", slept.append)
    response = client.get("/api/synthetic/slow", {"ms": "250"})
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "slept_ms": 250}
    assert slept == [0.25]


@pytest.mark.parametrize(
    ("ms", "message"),
    [("", "whole number"), ("abc", "whole number"), ("-1", "between 0 and"), ("10001", "between")],
)
def test_slow_refuses_bad_or_excessive_durations(client, ms, message, settings):
    settings.SYNTHETIC_SLOW_MAX_MS = 10_000
    response = client.get("/api/synthetic/slow", {"ms": ms})
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_flaky_never_fails_at_rate_zero_and_always_fails_at_rate_one(client, caplog):
    assert client.get("/api/synthetic/flaky", {"failure_rate": "0"}).status_code == 200
    failed = client.get("/api/synthetic/flaky", {"failure_rate": "1"})
    assert failed.status_code == 500
    assert failed.json() == {"status": "failed on purpose", "failure_rate": 1.0}
    # Intended failures do not flood the error log.
    assert not [r for r in caplog.records if r.name == "django.request"]


def test_flaky_with_a_seed_is_deterministic_and_fails_at_about_the_rate(client):
    codes = [
        client.get("/api/synthetic/flaky", {"failure_rate": "0.3", "seed": seed}).status_code
        for seed in range(200)
    ]
    again = [
        client.get("/api/synthetic/flaky", {"failure_rate": "0.3", "seed": seed}).status_code
        for seed in range(200)
    ]
    assert codes == again
    assert 40 <= codes.count(500) <= 80


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "must be a number"),
        ({"failure_rate": "often"}, "must be a number"),
        ({"failure_rate": "1.5"}, "between 0 and 1"),
        ({"failure_rate": "0.5", "seed": "x"}, "seed='x'"),
    ],
)
def test_flaky_refuses_bad_parameters(client, params, message):
    response = client.get("/api/synthetic/flaky", params)
    assert response.status_code == 400
    assert message in response.json()["error"]

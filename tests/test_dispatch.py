"""HTTP execution: headers, signature, statuses, caps, timeouts, and outbound safety."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import ssl
import subprocess
import time
from datetime import UTC, datetime

import pytest

import cronicorn
from jobs.scheduling import dispatch
from jobs.scheduling.dispatch import (
    Dispatcher,
    Outcome,
    Request,
    default_allowed_hosts,
    idempotency_key,
    is_blocked_address,
)
from tests.http_targets import TargetServer, refused_url

SLOT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def target():
    with TargetServer() as server:
        yield server


def make_request(url: str, **fields) -> Request:
    values = {"endpoint_id": 7, "method": "GET", "scheduled_for": SLOT, "attempt": 1, "headers": {}}
    values.update(fields)
    return Request(url=url, **values)


def call(*requests: Request, allowed_hosts=None, wait: float = 10) -> list[Outcome]:
    dispatcher = Dispatcher(concurrency=10, allowed_hosts=allowed_hosts)
    try:
        dispatcher.submit(enumerate(requests))
        results: dict[int, Outcome] = {}
        deadline = time.monotonic() + wait
        while len(results) < len(requests) and time.monotonic() < deadline:
            results.update(dispatcher.take(wait=0.5))
        return [results[index] for index in range(len(requests))]
    finally:
        dispatcher.close()


def test_it_sends_the_scheduler_headers_with_the_users_headers(target):
    request = make_request(
        target.url("/ok"), attempt=2, headers={"Authorization": "Bearer t", "user-agent": "mine"}
    )
    [outcome] = call(request)
    assert outcome.status == "success"
    assert outcome.status_code == 200
    assert outcome.response_excerpt == "ok"
    [received] = target.received
    assert received.headers["Authorization"] == "Bearer t"
    assert received.headers["User-Agent"] == f"cronicorn/{cronicorn.__version__}"
    assert received.headers["X-Cronicorn-Scheduled-For"] == "2026-12-03T12:00:00Z"
    assert received.headers["X-Cronicorn-Attempt"] == "2"
    assert received.headers["Idempotency-Key"] == idempotency_key(7, SLOT)
    assert "X-Cronicorn-Signature" not in received.headers
    assert received.headers["Accept-Encoding"] == "identity"


def test_the_idempotency_key_is_stable_per_slot_and_differs_between_slots():
    assert idempotency_key(7, SLOT) == idempotency_key(7, SLOT.astimezone())
    assert idempotency_key(7, SLOT) != idempotency_key(8, SLOT)
    assert idempotency_key(7, SLOT) != idempotency_key(7, SLOT.replace(minute=1))


def test_it_signs_the_timestamp_and_body_with_the_job_secret(target):
    [outcome] = call(
        make_request(target.url("/ok"), method="POST", body='{"a": 1}', signing_secret="s3cret")
    )
    assert outcome.status == "success"
    [received] = target.received
    assert received.body == '{"a": 1}'
    timestamp, digest = (
        part.split("=", 1)[1] for part in received.headers["X-Cronicorn-Signature"].split(",")
    )
    expected = hmac.new(b"s3cret", f'{timestamp}.{{"a": 1}}'.encode(), hashlib.sha256).hexdigest()
    assert digest == expected
    assert abs(int(timestamp) - time.time()) < 60


def test_a_non_2xx_answer_is_a_failure_unless_expected(target):
    outcomes = call(
        make_request(target.url("/status/500")),
        make_request(target.url("/status/404"), expected_status_codes=(404,)),
        make_request(target.url("/ok"), expected_status_codes=(201,)),
    )
    assert [(o.status, o.status_code) for o in outcomes] == [
        ("failure", 500),
        ("success", 404),
        ("failure", 200),
    ]


def test_a_slow_answer_past_the_timeout_is_a_timeout(target):
    [outcome] = call(make_request(target.url("/slow?ms=3000"), timeout_seconds=0.3))
    assert outcome.status == "timeout"
    assert outcome.status_code is None
    assert outcome.duration_ms < 2000


def test_a_slow_answer_within_the_timeout_succeeds(target):
    [outcome] = call(make_request(target.url("/slow?ms=300"), timeout_seconds=5))
    assert outcome.status == "success"
    assert outcome.duration_ms >= 300


def test_a_refused_connection_is_an_error():
    [outcome] = call(make_request(refused_url()))
    assert outcome.status == "error"
    assert "connection failed" in outcome.error


def test_a_huge_response_is_cut_at_max_response_bytes(target):
    started = time.monotonic()
    [outcome] = call(make_request(target.url("/huge?bytes=209715200"), max_response_bytes=1000))
    assert outcome.status == "success"
    assert outcome.response_excerpt == "x" * 1000
    assert time.monotonic() - started < 5  # it never read the 200 MB


def test_redirects_are_followed_and_each_hop_is_checked(target):
    ok = target.url("/ok")
    outcomes = call(
        make_request(target.url(f"/redirect?to={ok}")),
        make_request(target.url("/redirect?to=http://127.0.0.2/admin")),
        make_request(target.url("/redirect?to=http://169.254.169.254/latest/meta-data")),
        make_request(target.url("/redirect?to=file:///etc/passwd")),
        make_request(target.url("/loop")),
    )
    assert outcomes[0].status == "success"
    assert [o.status for o in outcomes[1:]] == ["error"] * 4
    assert "blocked" in outcomes[1].error and "127.0.0.2" in outcomes[1].error
    assert "blocked" in outcomes[2].error
    assert "only http and https" in outcomes[3].error
    assert "redirects" in outcomes[4].error
    assert [r.path for r in target.received].count("/loop") == 6


def test_a_name_resolving_to_loopback_is_refused_unless_allowlisted(target):
    url = f"http://localhost:{target.port}/ok"
    [refused] = call(make_request(url), allowed_hosts=frozenset())
    assert refused.status == "error"
    assert "blocked: localhost resolves to a private or local address" in refused.error
    assert target.received == []
    [allowed] = call(make_request(url), allowed_hosts=frozenset({"localhost"}))
    assert allowed.status == "success"


def test_the_site_url_host_and_the_setting_are_allowed(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["Internal.Example."]
    settings.SITE_URL = "https://cron.example.org"
    assert default_allowed_hosts() == frozenset({"internal.example", "cron.example.org"})


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("10.1.2.3", True),
        ("192.168.0.1", True),
        ("172.16.5.4", True),
        ("127.0.0.1", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),
        ("::1", True),
        ("fe80::1", True),
        ("fd00::1", True),
        ("::ffff:10.0.0.1", True),
        ("224.0.0.1", True),
        ("93.184.216.34", False),
        ("2606:4700::1111", False),
    ],
)
def test_it_classifies_addresses(address, blocked):
    assert is_blocked_address(address) is blocked


def test_closing_interrupts_requests_in_flight_and_still_reports_them(target):
    dispatcher = Dispatcher(concurrency=4)
    dispatcher.submit([("slow", make_request(target.url("/slow?ms=5000")))])
    deadline = time.monotonic() + 5
    while not target.received and time.monotonic() < deadline:
        time.sleep(0.02)
    dispatcher.close()
    [(tag, outcome)] = dispatcher.take()
    assert tag == "slow"
    assert outcome.status == "error"
    assert "interrupted" in outcome.error
    assert dispatcher.in_flight == 0


def test_each_method_goes_out_with_its_body_and_a_text_content_type_by_default(target):
    outcomes = call(
        make_request(target.url("/ok"), method="POST", body="hello"),
        make_request(
            target.url("/ok"),
            method="PUT",
            body='{"a": 1}',
            headers={"Content-Type": "application/json"},
        ),
        make_request(target.url("/ok"), method="DELETE"),
        make_request(target.url("/ok"), method="PATCH"),
        make_request(target.url("/ok"), method="HEAD"),
    )
    assert [o.status for o in outcomes] == ["success"] * 5
    received = {r.method: r for r in target.received}
    assert set(received) == {"POST", "PUT", "DELETE", "PATCH", "HEAD"}
    assert received["POST"].body == "hello"
    assert received["POST"].headers["Content-Type"] == "text/plain; charset=utf-8"
    assert received["PUT"].body == '{"a": 1}'
    assert received["PUT"].headers["Content-Type"] == "application/json"
    assert received["DELETE"].body == "" and "Content-Type" not in received["DELETE"].headers
    assert received["PATCH"].headers["Content-Length"] == "0"
    assert "Content-Type" not in received["PATCH"].headers
    assert outcomes[4].response_excerpt == ""  # HEAD: no body is read


def test_a_header_with_an_empty_value_is_sent_empty(target):
    call(make_request(target.url("/ok"), headers={"X-Empty": ""}))
    [received] = target.received
    assert received.headers["X-Empty"] == ""


def test_a_proxy_from_the_environment_is_never_used(target, monkeypatch):
    refused = refused_url().rstrip("/")
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, refused)
    [outcome] = call(make_request(target.url("/ok")))
    assert outcome.status == "success"


def test_a_redirect_to_another_host_drops_the_credentials(target):
    other_host = f"http://localhost:{target.port}/ok"
    same_host = target.url("/ok")
    headers = {"Authorization": "Bearer t", "Cookie": "a=1", "X-Kept": "yes"}
    call(
        make_request(target.url(f"/redirect?to={same_host}"), headers=headers),
        make_request(target.url(f"/redirect?to={other_host}"), headers=headers),
        allowed_hosts=frozenset({"127.0.0.1", "localhost"}),
    )
    second_hops = [r for r in target.received if r.path == "/ok"]
    by_host = {r.headers["Host"].split(":")[0]: r.headers for r in second_hops}
    assert by_host["127.0.0.1"]["Authorization"] == "Bearer t"
    assert "Authorization" not in by_host["localhost"]
    assert "Cookie" not in by_host["localhost"]
    assert by_host["localhost"]["X-Kept"] == "yes"


def test_a_303_after_a_post_is_followed_with_a_get_without_the_body(target):
    ok = target.url("/ok")
    [outcome] = call(
        make_request(target.url(f"/redirect?to={ok}&code=303"), method="POST", body="data")
    )
    assert outcome.status == "success"
    first, second = target.received
    assert (first.method, first.body) == ("POST", "data")
    assert (second.method, second.body) == ("GET", "")


def test_it_works_with_poll_where_there_is_no_epoll(target, monkeypatch):
    """macOS has no epoll: the dispatcher waits with poll() there."""
    monkeypatch.setattr(dispatch, "_HAS_EPOLL", False)
    outcomes = call(
        make_request(target.url("/ok")),
        make_request(target.url("/slow?ms=3000"), timeout_seconds=0.3),
    )
    assert [o.status for o in outcomes] == ["success", "timeout"]


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1: (certificate file, key file)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_trusts_only_certificates_from_the_ca_bundle(certificate, monkeypatch):
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with TargetServer(tls=context) as server:
        [untrusted] = call(make_request(server.url("/ok")))
        assert untrusted.status == "error"
        assert "connection failed" in untrusted.error and "certificate" in untrusted.error
        monkeypatch.setattr(dispatch, "CA_BUNDLE", str(cert))
        [trusted] = call(make_request(server.url("/ok")))
        assert (trusted.status, trusted.response_excerpt) == ("success", "ok")


def test_a_header_value_beyond_ascii_goes_out_as_utf8(target):
    [outcome] = call(make_request(target.url("/ok"), headers={"X-Name": "José"}))
    assert outcome.status == "success"
    [received] = target.received
    # http.server reads header bytes as Latin-1: the UTF-8 bytes arrived unchanged.
    assert received.headers["X-Name"].encode("latin-1").decode() == "José"


def test_a_url_that_cannot_be_called_is_an_error_and_the_others_still_go(target):
    bad, good = call(make_request("http://127.0.0.1:99999/x"), make_request(target.url("/ok")))
    assert bad.status == "error" and "Port out of range" in bad.error
    assert good.status == "success"


def test_a_bug_while_judging_an_answer_is_an_error_run_and_the_dispatcher_goes_on(
    target, monkeypatch
):
    def broken(status_code, expected):
        if status_code == 500:
            raise RuntimeError("judging failed")
        return 200 <= status_code < 300

    monkeypatch.setattr(dispatch, "is_success", broken)
    dispatcher = Dispatcher(concurrency=4)
    try:
        dispatcher.submit(
            [
                ("bad", make_request(target.url("/status/500"))),
                ("ok", make_request(target.url("/ok"))),
            ]
        )
        results = {}
        deadline = time.monotonic() + 10
        while len(results) < 2 and time.monotonic() < deadline:
            results.update(dispatcher.take(wait=0.5))
        assert results["bad"].status == "error"
        assert "internal error" in results["bad"].error and "judging failed" in results["bad"].error
        assert results["ok"].status == "success"
        dispatcher.submit([("again", make_request(target.url("/ok")))])
        [(tag, again)] = dispatcher.take(wait=5)
        assert (tag, again.status) == ("again", "success")
        assert dispatcher.in_flight == 0
    finally:
        dispatcher.close()

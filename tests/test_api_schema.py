"""The OpenAPI contract: /api/schema/ and /api/docs/ are served, every operation is typed and
authenticated, and schemathesis finds no server error and no response that contradicts the schema.

The fuzzing run is bounded and deterministic: FUZZ_EXAMPLES cases per operation and generation
mode (positive: data the schema allows, path ids of real objects; negative: data it forbids).
Every case is rolled back, so a DELETE does not starve the operations after it. The figures
(operations, requests, failures) are printed; run with -s to see them.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cronicorn.wsgi import application
from jobs.models import ApiKey, Endpoint, Job, Run

pytest_plugins = ["tests.api_fixtures"]
pytestmark = pytest.mark.django_db

FUZZ_EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_the_schema_is_served_and_every_operation_is_typed_and_secured(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A key made with `manage.py createapikey USERNAME` or in the admin.",
    }
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) == 24  # jobs 8, endpoints 14, runs 2
    for path, method, operation in operations:
        assert {"ApiKeyAuth": []} in operation["security"], (method, path)
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert success, (method, path)
        for code in success:
            if code != "204":
                assert "$ref" in str(operation["responses"][code]["content"]), (method, path)
        assert {"401", "429"} <= set(operation["responses"]), (method, path)
    # Request bodies refuse unknown fields, as the serializers do.
    components = schema["components"]["schemas"]
    assert components["JobRequest"]["additionalProperties"] is False
    assert components["PatchedEndpointRequest"]["additionalProperties"] is False


def test_the_swagger_ui_is_served_without_a_cdn(client, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn." not in page
    # The assets ship with the app (collectstatic gathers them; whitenoise serves them).
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


@pytest.fixture
def wsgi_in_test_transaction():
    """Let requests sent straight to the WSGI app share the test's transaction, as Django's own
    test client does: nothing closes the connection at the start or end of a request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_schemathesis_finds_no_server_error_and_no_contract_violation(
    alice, alice_endpoint, bob, wsgi_in_test_transaction, fresh_throttle, settings
):
    settings.API_THROTTLE_RATE = "100000/minute"
    _, key = ApiKey.objects.create_key(name="fuzz", owner=alice)
    Run.objects.create(
        endpoint=alice_endpoint, scheduled_for=alice_endpoint.created_at,
        started_at=alice_endpoint.created_at, finished_at=alice_endpoint.created_at,
        duration_ms=12, status="success", source="interval",
    )  # fmt: skip
    # Real ids (alice's) and one of bob's, which must look exactly like a missing one.
    bobs = Endpoint.objects.create(
        job=Job.objects.create(owner=bob, name="b"),
        name="b",
        url="https://e.com/",
        interval_seconds=60,
    )
    ids_by_prefix = {
        "/api/jobs/": [alice_endpoint.job_id, bobs.job_id],
        "/api/endpoints/": [alice_endpoint.pk, bobs.pk],
        "/api/runs/": list(Run.objects.values_list("pk", flat=True)),
    }
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    figures = {"operations": 0, "requests": 0, "failures": 0}
    failures: list[str] = []
    statuses: Counter[str] = Counter()

    for result in schema.get_all_operations():
        operation = result.ok()
        figures["operations"] += 1
        ids = next(v for prefix, v in ids_by_prefix.items() if operation.path.startswith(prefix))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, ids, {"X-API-Key": key}, figures, failures, statuses)

    print(f"\nschemathesis: {figures}, responses: {dict(sorted(statuses.items()))}")
    assert figures["operations"] == 24
    assert failures == [], "\n\n".join(failures[:5])


def fuzz(operation, mode, ids, headers, figures, failures, statuses) -> None:
    """FUZZ_EXAMPLES cases of one operation in one mode, each in a transaction rolled back."""
    checks = [*CHECKS, ignored_auth]

    @given(case=operation.as_strategy(generation_mode=mode), real_id=st.sampled_from(ids))
    @hypothesis_settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def one_case(case, real_id):
        if mode is GenerationMode.POSITIVE and "id" in (case.path_parameters or {}):
            case.path_parameters["id"] = real_id
        with transaction.atomic():
            figures["requests"] += 1
            try:
                response = case.call(headers=headers)
                statuses[f"{response.status_code // 100}xx"] += 1
                case.validate_response(response, checks=checks, headers=headers)
            # A FailureGroup (failed checks) is a BaseExceptionGroup; any other exception is an
            # error the app let escape.
            except (FailureGroup, Exception) as exc:
                figures["failures"] += 1
                failures.append(f"{case.method} {case.formatted_path}: {exc}"[:3000])
            transaction.set_rollback(True)

    one_case()

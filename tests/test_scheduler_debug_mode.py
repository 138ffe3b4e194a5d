"""The scheduler's SQL also runs with Django's query log on (DEBUG=true, as in make run)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.models import Endpoint
from jobs.scheduling import claims
from jobs.scheduling.clock import database_now

pytestmark = pytest.mark.django_db


def test_claim_heartbeat_and_sweep_work_while_queries_are_logged(alice_endpoint):
    with CaptureQueriesContext(connection) as logged:
        worker_id = claims.register_worker("debug", "host", 1)
        database_now()
        _, rows = claims.claim(worker_id, 10, 20)
        claims.heartbeat(worker_id, [row["id"] for row in rows], 20)
        claims.sweep()
        claims.release_unstarted(worker_id)
    assert [row["id"] for row in rows] == [alice_endpoint.pk]
    assert Endpoint.objects.get(pk=alice_endpoint.pk).lease_owner_id is None
    assert len(logged.captured_queries) >= 5

"""Creates or updates, in place, the synthetic jobs that call the app's own synthetic targets.

Called by `manage.py seed_synthetic` and by the admin's "Seed synthetic jobs" action.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from jobs.models import Endpoint, Job

SYSTEM_USERNAME = "cronicorn-synthetic"


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    path: str
    interval_seconds: int
    method: str = "GET"
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    timeout_seconds: int = 10


def targets() -> list[Target]:
    # The flaky rate is part of the URL: synthetic_health reads it back from there, so the rate
    # it judges by is always the one the endpoint really asks for.
    rate = settings.SYNTHETIC_FLAKY_FAILURE_RATE
    return [
        Target("health", "The app answers a plain GET.", "health", 30),
        Target(
            "echo",
            "A POST with a JSON body comes back intact.",
            "echo",
            60,
            method="POST",
            body=json.dumps({"from": "cronicorn", "check": "echo"}),
            headers={"Content-Type": "application/json"},
        ),
        Target("slow", "A slow answer is waited for and timed.", "slow?ms=250", 60),
        Target(
            "flaky",
            f"Fails on purpose at a rate of {rate:g}: failures must be recorded as such.",
            f"flaky?failure_rate={rate:g}",
            30,
        ),
    ]


@dataclass
class SeedSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [
            f"{label} {len(names)} ({', '.join(names)})" if names else f"{label} 0"
            for label, names in (
                ("created", self.created),
                ("updated", self.updated),
                ("unchanged", self.unchanged),
            )
        ]
        return "Synthetic jobs: " + ", ".join(parts) + "."


def system_user() -> Any:
    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_staff": False, "is_active": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _apply(instance: Job | Endpoint, values: dict[str, Any]) -> bool:
    """Set `values` on `instance`; return whether anything changed."""
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    for name in changed:
        setattr(instance, name, values[name])
    return bool(changed)


@transaction.atomic
def seed_synthetic_jobs(site_url: str | None = None) -> SeedSummary:
    """One synthetic job per target, each with one endpoint on `site_url` (default SITE_URL).

    Idempotent: existing jobs and endpoints (matched by name) are updated in place, never
    duplicated. An operator's pause (job status) is kept.
    """
    base = (site_url or settings.SITE_URL).rstrip("/")
    owner = system_user()
    summary = SeedSummary()
    for target in targets():
        job_name = f"synthetic-{target.name}"
        job, job_created = Job.objects.get_or_create(
            owner=owner,
            name=job_name,
            defaults={"is_synthetic": True, "description": target.description},
        )
        job_changed = _apply(job, {"is_synthetic": True, "description": target.description})
        if job_changed:
            job.save()
        endpoint_values = {
            "url": f"{base}/api/synthetic/{target.path}",
            "method": target.method,
            "body": target.body,
            "headers": target.headers,
            "timeout_seconds": target.timeout_seconds,
            "interval_seconds": target.interval_seconds,
            # No failure backoff: a probe keeps its cadence through the failures it is there to
            # see (and the flaky target's intended failures never slow it down).
            "max_interval_seconds": target.interval_seconds,
            "cron": "",
        }
        endpoint = job.endpoints.filter(name=target.name).first()
        if endpoint is None:
            endpoint = Endpoint(job=job, name=target.name, **endpoint_values)
            endpoint.full_clean()
            endpoint.save()
            endpoint_changed = True
        else:
            endpoint_changed = _apply(endpoint, endpoint_values)
            if endpoint_changed:
                endpoint.full_clean()
                endpoint.save()
        if job_created:
            summary.created.append(job_name)
        elif job_changed or endpoint_changed:
            summary.updated.append(job_name)
        else:
            summary.unchanged.append(job_name)
    return summary

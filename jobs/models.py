"""The domain: jobs own endpoints, endpoints are scheduled, every call becomes a Run."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone as django_timezone
from rest_framework_api_key.models import AbstractAPIKey

from jobs.scheduling.governor import Policy, ScheduleState, first_run
from jobs.validators import (
    http_url,
    validate_cron_expression,
    validate_headers,
    validate_status_codes,
    validate_timezone,
)

# Hard limits that hold whatever the settings: they keep a single endpoint from hurting the
# scheduler (a 1 MiB excerpt per run, a request that holds a slot for an hour).
MAX_INTERVAL_SECONDS = 366 * 24 * 3600
MAX_TIMEOUT_SECONDS = 600
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_URL_LENGTH = 2048

# What the scheduler sends for an endpoint: the fields of its HTTP request.
REQUEST_FIELDS = (
    "url",
    "method",
    "headers",
    "body",
    "timeout_seconds",
    "max_response_bytes",
    "expected_status_codes",
)


class Job(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"
        ARCHIVED = "archived"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_synthetic = models.BooleanField(
        default=False,
        db_index=True,
        help_text="Calls Cronicorn's own synthetic endpoints to test it.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    signing_secret = models.CharField(
        max_length=200,
        blank=True,
        help_text="When set, every request carries X-Cronicorn-Signature (HMAC-SHA256).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="job_unique_name_per_owner"),
        ]

    def __str__(self) -> str:
        return self.name


class Endpoint(models.Model):
    """One URL called on one schedule: the unit the scheduler claims."""

    class Method(models.TextChoices):
        GET = "GET"
        POST = "POST"
        PUT = "PUT"
        PATCH = "PATCH"
        DELETE = "DELETE"
        HEAD = "HEAD"
        OPTIONS = "OPTIONS"

    # No index of its own: endpoint_unique_name_per_job starts with job_id and serves the lookups.
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="endpoints", db_index=False)
    name = models.CharField(max_length=200)
    url = models.CharField(max_length=MAX_URL_LENGTH, validators=[http_url])
    method = models.CharField(max_length=8, choices=Method.choices, default=Method.GET)
    headers = models.JSONField(default=dict, blank=True, validators=[validate_headers])
    body = models.TextField(blank=True)
    timeout_seconds = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(MAX_TIMEOUT_SECONDS)]
    )
    max_response_bytes = models.PositiveIntegerField(
        default=4096,
        validators=[MaxValueValidator(MAX_RESPONSE_BYTES)],
        help_text="How much of the response body each run keeps.",
    )
    expected_status_codes = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_status_codes],
        help_text="Status codes that count as success; empty means any 2xx.",
    )

    # The schedule: exactly one of interval_seconds or cron.
    interval_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_INTERVAL_SECONDS)],
    )
    cron = models.CharField(
        max_length=120,
        blank=True,
        validators=[validate_cron_expression],
        help_text="Five fields: minute hour day-of-month month day-of-week.",
    )
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    min_interval_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_INTERVAL_SECONDS)],
    )
    max_interval_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_INTERVAL_SECONDS)],
    )

    # Adaptive hints, live until hint_expires_at.
    hint_interval_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_INTERVAL_SECONDS)],
    )
    hint_next_run_at = models.DateTimeField(null=True, blank=True)
    hint_expires_at = models.DateTimeField(null=True, blank=True)
    hint_reason = models.CharField(max_length=200, blank=True)

    paused_until = models.DateTimeField(null=True, blank=True)

    # Scheduling state, written by the scheduler (and by the operator controls).
    next_run_at = models.DateTimeField(null=True, blank=True)
    next_run_source = models.CharField(max_length=16, blank=True)
    run_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="A pending 'run now' request, served outside the schedule."
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    failure_count = models.PositiveIntegerField(default=0)
    # How many times the current slot has been claimed: a slot re-claimed after its worker died
    # is sent again with the same Idempotency-Key and the next X-Cronicorn-Attempt.
    slot_attempt = models.PositiveIntegerField(default=0)

    # The lease: which worker holds this endpoint, and until when unless it heartbeats.
    lease_owner = models.ForeignKey(
        "SchedulerWorker",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        related_name="+",
    )
    lease_until = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job_id", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "name"], name="endpoint_unique_name_per_job"),
            models.CheckConstraint(
                condition=(Q(interval_seconds__isnull=False) & Q(cron=""))
                | (Q(interval_seconds__isnull=True) & ~Q(cron="")),
                name="endpoint_interval_xor_cron",
            ),
        ]
        indexes = [
            # The claim in jobs/scheduling/claims.py: unleased endpoints by due time. Leased
            # (in-flight) rows leave the index, so the claim never walks over them.
            models.Index(
                fields=["next_run_at"],
                condition=Q(lease_owner__isnull=True, next_run_at__isnull=False),
                name="endpoint_due_idx",
            ),
            # The same claim, for pending "run now" requests.
            models.Index(
                fields=["run_requested_at"],
                condition=Q(lease_owner__isnull=True, run_requested_at__isnull=False),
                name="endpoint_run_requested_idx",
            ),
            # Heartbeat (renew a worker's leases) and sweep (expire dead workers' leases).
            models.Index(
                fields=["lease_owner", "lease_until"],
                condition=Q(lease_owner__isnull=False),
                name="endpoint_leased_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job.name} / {self.name}" if self.job_id else self.name

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and self.next_run_at is None:
            plan = first_run(ScheduleState.of(self), django_timezone.now(), Policy.from_settings())
            self.next_run_at, self.next_run_source = plan.next_run_at, plan.source
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        has_interval = self.interval_seconds is not None
        has_cron = bool(self.cron.strip())
        if has_interval and has_cron:
            errors["cron"] = "Give either an interval or a cron, not both."
        elif not has_interval and not has_cron:
            errors["interval_seconds"] = "Give an interval in seconds or a cron expression."
        if (
            self.min_interval_seconds is not None
            and self.max_interval_seconds is not None
            and self.min_interval_seconds > self.max_interval_seconds
        ):
            errors["min_interval_seconds"] = "The minimum interval must not exceed the maximum."
        if errors:
            raise ValidationError(errors)

    @property
    def is_paused(self) -> bool:
        return self.paused_until is not None and self.paused_until > django_timezone.now()


class Run(models.Model):
    """One call of one endpoint for one slot."""

    class Status(models.TextChoices):
        SUCCESS = "success"
        FAILURE = "failure"  # the endpoint answered with an unexpected status
        TIMEOUT = "timeout"
        ERROR = "error"  # no answer: refused, DNS, TLS, blocked address, ...

    class Source(models.TextChoices):
        INTERVAL = "interval"
        CRON = "cron"
        HINT = "hint"
        BACKOFF = "backoff"
        MANUAL = "manual"
        MISFIRE = "misfire"  # a coalesced run after downtime

    # No index of its own: run_one_per_slot starts with endpoint_id and serves the lookups; one
    # index fewer to write per run.
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="runs", db_index=False
    )
    scheduled_for = models.DateTimeField(help_text="The slot this run serves.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    source = models.CharField(max_length=16, choices=Source.choices)
    worker = models.ForeignKey(
        "SchedulerWorker", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    # Copied from the job when the run is recorded, so reports filter without a join.
    is_synthetic = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # The last guard of exactly-once: one run per endpoint and slot, whatever the workers do.
            models.UniqueConstraint(fields=["endpoint", "scheduled_for"], name="run_one_per_slot"),
        ]
        indexes = [
            # Per-endpoint reports over a window (stats, synthetic_health, the admin dashboard).
            models.Index(fields=["endpoint", "started_at"], name="run_endpoint_started_idx"),
            # Run lists newest first, time-range filters, and prune_runs' cut-off.
            models.Index(fields=["started_at"], name="run_started_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_id} @ {self.scheduled_for:%Y-%m-%d %H:%M:%S} {self.status}"

    @property
    def lateness_ms(self) -> int:
        return int((self.started_at - self.scheduled_for).total_seconds() * 1000)


class SchedulerWorker(models.Model):
    """One row per runscheduler process; its heartbeat tells whether scheduling is alive."""

    name = models.CharField(max_length=100, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-heartbeat_at"]
        indexes = [
            # Liveness: /api/health, smoke and the dashboard look for a fresh heartbeat.
            models.Index(fields=["heartbeat_at"], name="worker_heartbeat_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class ApiKey(AbstractAPIKey):
    """An API key of one user; only its hash is stored (djangorestframework-api-key)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

"""State that monitoring keeps between runs of its commands."""

from __future__ import annotations

from django.db import models


class AlertState(models.Model):
    """Whether a check was last seen failing, so its webhook fires once on failure and once on
    recovery, across runs of a command started by a systemd timer."""

    name = models.CharField(max_length=100, unique=True)
    failing = models.BooleanField(default=False)
    changed_at = models.DateTimeField(null=True, blank=True)
    last_message = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.name}: {'failing' if self.failing else 'ok'}"


class RunRollup(models.Model):
    """One endpoint's runs started in one UTC hour, summed so that long-window reports survive
    pruning: exact counts and maxima, durations and lateness as log-scale histograms
    (monitoring.rollups.BUCKET_BOUNDS_MS; JSON objects of bucket index -> count)."""

    endpoint = models.ForeignKey("jobs.Endpoint", on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    is_synthetic = models.BooleanField(default=False)
    runs = models.PositiveIntegerField()
    successes = models.PositiveIntegerField()
    failures = models.PositiveIntegerField()
    timeouts = models.PositiveIntegerField()
    errors = models.PositiveIntegerField()
    max_duration_ms = models.BigIntegerField()
    max_lateness_ms = models.BigIntegerField()
    duration_histogram = models.JSONField()
    lateness_histogram = models.JSONField()
    last_run_at = models.DateTimeField()
    last_status = models.CharField(max_length=16)

    class Meta:
        constraints = [
            # Also the index of the reports: endpoint IN (...) AND hour in a range.
            models.UniqueConstraint(
                fields=["endpoint", "hour", "is_synthetic"], name="rollup_one_per_hour"
            ),
        ]
        indexes = [
            # Recomputing one hour and pruning old hours (monitoring.rollups, monitoring.pruning).
            models.Index(fields=["hour"], name="rollup_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_id} @ {self.hour:%Y-%m-%d %H:00} {self.runs} runs"


class RunHistory(models.Model):
    """The single row that says how far runs have been rolled up (the rollups' watermark)."""

    # Every hour before this is rolled up; reports read hours at and after it from raw runs.
    rolled_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rolled up until {self.rolled_until}"

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

"""The endpoint form of the admin (its own page and the inline on the job page).

Saving writes only the fields the operator changed: the scheduler writes the state columns (next
run, lease, failure count) at any moment, and a full save would put back what the form loaded.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import forms

from jobs.models import Endpoint
from jobs.scheduling import control

# Editing any of these moves the next run: the endpoint is replanned after the save.
SCHEDULE_FIELDS = frozenset(
    {
        "interval_seconds",
        "cron",
        "timezone",
        "min_interval_seconds",
        "max_interval_seconds",
        "paused_until",
    }
)


def save_endpoint(endpoint: Endpoint, changed_fields: Iterable[str]) -> Endpoint:
    """Create the endpoint (its first run is planned by Endpoint.save), or write only the changed
    fields and replan when the schedule changed."""
    if endpoint._state.adding:
        endpoint.save()
        return endpoint
    changed = set(changed_fields)
    if not changed:
        return endpoint
    endpoint.save(update_fields=[*sorted(changed), "updated_at"])
    if changed & SCHEDULE_FIELDS:
        return control.schedule_endpoint(endpoint)
    return endpoint


class EndpointForm(forms.ModelForm):
    class Meta:
        model = Endpoint
        # What an operator edits; hints and the scheduler's state have their own controls.
        fields = [
            "job",
            "name",
            "url",
            "method",
            "headers",
            "body",
            "timeout_seconds",
            "max_response_bytes",
            "expected_status_codes",
            *sorted(SCHEDULE_FIELDS),
        ]
        widgets = {"url": forms.TextInput(attrs={"class": "vURLField"})}

    def save(self, commit: bool = True) -> Endpoint:
        endpoint = super().save(commit=False)
        if commit:
            save_endpoint(endpoint, self.changed_data)
        return endpoint

"""The endpoint form of the admin (its own page and the inline on the job page).

Saving writes only the fields the operator changed: the scheduler writes the state columns (next
run, lease, failure count) at any moment, and a full save would put back what the form loaded.
"""

from __future__ import annotations

from django import forms

from jobs.models import REQUEST_FIELDS, Endpoint
from jobs.scheduling.control import SCHEDULE_FIELDS, save_endpoint


class EndpointForm(forms.ModelForm):
    class Meta:
        model = Endpoint
        # What an operator edits; hints and the scheduler's state have their own controls.
        fields = [
            "job",
            "name",
            *REQUEST_FIELDS,
            *sorted(SCHEDULE_FIELDS),
        ]
        widgets = {"url": forms.TextInput(attrs={"class": "vURLField"})}

    def save(self, commit: bool = True) -> Endpoint:
        endpoint = super().save(commit=False)
        if commit:
            save_endpoint(endpoint, self.changed_data)
        return endpoint

"""Query filters of the list routes (django-filter); ids of other users' objects match nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField

from jobs.models import Endpoint, Job, Run

# The largest id both engines store (a signed 64-bit integer).
MAX_ID = 2**63 - 1


class IdFilter(django_filters.NumberFilter):
    """An object id: a whole number in the database's range, else a 400 (never an overflow)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, min_value=1, max_value=MAX_ID, **kwargs)


class JobFilter(django_filters.FilterSet):
    class Meta:
        model = Job
        fields = ["is_synthetic", "status"]


class EndpointFilter(django_filters.FilterSet):
    job = IdFilter(field_name="job_id")
    is_synthetic = django_filters.BooleanFilter(field_name="job__is_synthetic")

    class Meta:
        model = Endpoint
        fields = ["job", "is_synthetic", "method"]


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 time read as UTC: PostgreSQL refuses offsets beyond 15:59 that Python takes."""

    def to_python(self, value: object) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError("The time is out of range.", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class RunFilter(django_filters.FilterSet):
    job = IdFilter(field_name="endpoint__job_id")
    endpoint = IdFilter(field_name="endpoint_id")
    started_after = UtcDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = UtcDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = Run
        fields = ["job", "endpoint", "status", "is_synthetic", "source"]

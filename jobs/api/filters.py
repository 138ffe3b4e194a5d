"""Query filters of the list routes (django-filter); ids of other users' objects match nothing."""

from __future__ import annotations

import django_filters

from jobs.models import Endpoint, Job, Run


class JobFilter(django_filters.FilterSet):
    class Meta:
        model = Job
        fields = ["is_synthetic", "status"]


class EndpointFilter(django_filters.FilterSet):
    job = django_filters.NumberFilter(field_name="job_id")
    is_synthetic = django_filters.BooleanFilter(field_name="job__is_synthetic")

    class Meta:
        model = Endpoint
        fields = ["job", "is_synthetic", "method"]


class RunFilter(django_filters.FilterSet):
    job = django_filters.NumberFilter(field_name="endpoint__job_id")
    endpoint = django_filters.NumberFilter(field_name="endpoint_id")
    started_after = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = Run
        fields = ["job", "endpoint", "status", "is_synthetic", "source"]

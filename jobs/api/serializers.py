"""API representations and their validation: the model rules (jobs.validators, Model.clean) plus
the API's own limits from settings (API_*), so the API and the admin say the same thing."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.utils import timezone
from rest_framework import serializers

from jobs.models import MAX_INTERVAL_SECONDS, REQUEST_FIELDS, Endpoint, Job, Run
from jobs.scheduling import control
from jobs.validators import validate_headers, validate_status_codes
from monitoring.durations import parse_duration

MAX_NEXT_RUNS = 100
# Shown but read-only: hints, pause and the scheduler's state change through the actions, which
# replan the endpoint.
ENDPOINT_STATE_FIELDS = [
    "hint_interval_seconds",
    "hint_next_run_at",
    "hint_expires_at",
    "hint_reason",
    "paused_until",
    "next_run_at",
    "next_run_source",
    "run_requested_at",
    "last_run_at",
    "failure_count",
    "created_at",
    "updated_at",
]


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not accept (a typo must not be silently ignored), with a message
    per field; subclasses may explain where a refused field is managed instead."""

    refused_field_messages: dict[str, str] = {}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {}
            for name in data:
                field = self.fields.get(name)
                if name in self.refused_field_messages:
                    errors[name] = [self.refused_field_messages[name]]
                elif field is None:
                    errors[name] = ["Unknown field."]
                elif field.read_only:
                    errors[name] = ["This field is read-only."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class OwnedModelSerializer(StrictSerializer, serializers.ModelSerializer):
    """Saves only the fields it was given: the scheduler writes other columns of the same row
    (next_run_at, the lease) at any time, and a full save would overwrite them."""

    @property
    def user(self) -> Any:
        return self.context["request"].user

    def update(self, instance: models.Model, validated_data: dict[str, Any]) -> models.Model:
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.save(update_fields=[*validated_data, "updated_at"])
        return instance


def check_model_rules(candidate: models.Model) -> None:
    """Run the model's cross-field rules (Model.clean) and report them as API field errors."""
    try:
        candidate.clean()
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None


def check_request_size(attrs: Mapping[str, Any]) -> None:
    errors = {}
    body = attrs.get("body")
    if body and len(body.encode()) > settings.API_MAX_BODY_BYTES:
        errors["body"] = [f"The body may be at most {settings.API_MAX_BODY_BYTES} bytes."]
    headers = attrs.get("headers")
    if headers:
        size = sum(len(name.encode()) + len(value.encode()) for name, value in headers.items())
        if size > settings.API_MAX_HEADER_BYTES:
            errors["headers"] = [
                f"Headers may be at most {settings.API_MAX_HEADER_BYTES} bytes in all."
            ]
    if errors:
        raise serializers.ValidationError(errors)


def check_endpoint_cap(user: Any, adding: int) -> None:
    count = Endpoint.objects.filter(job__owner=user).count()
    if count + adding > settings.API_MAX_ENDPOINTS_PER_USER:
        raise serializers.ValidationError(
            {
                "non_field_errors": [
                    f"You may have at most {settings.API_MAX_ENDPOINTS_PER_USER} endpoints "
                    f"(you have {count})."
                ]
            }
        )


class EndpointSerializer(OwnedModelSerializer):
    headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        validators=[validate_headers],
        help_text='Extra request headers, e.g. {"Authorization": "Bearer ..."}.',
    )
    expected_status_codes = serializers.ListField(
        child=serializers.IntegerField(min_value=100, max_value=599),
        required=False,
        max_length=100,
        validators=[validate_status_codes],
        help_text="Status codes that count as success; empty means any 2xx.",
    )
    is_paused = serializers.BooleanField(read_only=True)

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "job",
            "name",
            *REQUEST_FIELDS,
            "interval_seconds",
            "cron",
            "timezone",
            "min_interval_seconds",
            "max_interval_seconds",
            "is_paused",
            *ENDPOINT_STATE_FIELDS,
        ]
        read_only_fields = ENDPOINT_STATE_FIELDS

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        if "job" in fields and "request" in self.context:
            # Another user's job is as unknown as a job that does not exist.
            fields["job"].queryset = Job.objects.filter(owner_id=self.user.pk)
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        check_request_size(attrs)
        if self.instance is None:
            candidate = Endpoint(**{k: v for k, v in attrs.items() if k != "job"})
        else:
            candidate = copy.copy(self.instance)
            for name, value in attrs.items():
                setattr(candidate, name, value)
        check_model_rules(candidate)
        if self.instance is None and "job" in self.fields:
            check_endpoint_cap(self.user, 1)
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Endpoint:
        # Endpoint.save plans the first run.
        return Endpoint.objects.create(**validated_data)

    def update(self, instance: Endpoint, validated_data: dict[str, Any]) -> Endpoint:
        changed = [
            name for name, value in validated_data.items() if value != getattr(instance, name)
        ]
        for name in changed:
            setattr(instance, name, validated_data[name])
        return control.save_endpoint(instance, changed)


class NestedEndpointSerializer(EndpointSerializer):
    """An endpoint inside a job: the job is the enclosing one."""

    class Meta(EndpointSerializer.Meta):
        fields = [name for name in EndpointSerializer.Meta.fields if name != "job"]


class JobSerializer(OwnedModelSerializer):
    endpoints = NestedEndpointSerializer(
        many=True,
        required=False,
        help_text="Created with the job; later managed at /api/endpoints/.",
    )
    signing_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="When set, every request carries X-Cronicorn-Signature (HMAC-SHA256).",
    )
    has_signing_secret = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "name",
            "description",
            "is_synthetic",
            "status",
            "signing_secret",
            "has_signing_secret",
            "endpoints",
            "created_at",
            "updated_at",
        ]
        # The status changes through the pause and resume actions.
        read_only_fields = ["status", "created_at", "updated_at"]

    def get_has_signing_secret(self, job: Job) -> bool:
        return bool(job.signing_secret)

    def validate_name(self, value: str) -> str:
        others = Job.objects.filter(owner=self.user, name=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError("You already have a job with this name.")
        return value

    def validate_endpoints(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = [endpoint["name"] for endpoint in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise serializers.ValidationError(
                f"Endpoint names must be unique within a job: {', '.join(duplicates)}."
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None:
            count = Job.objects.filter(owner=self.user).count()
            if count >= settings.API_MAX_JOBS_PER_USER:
                raise serializers.ValidationError(
                    {
                        "non_field_errors": [
                            f"You may have at most {settings.API_MAX_JOBS_PER_USER} jobs."
                        ]
                    }
                )
            check_endpoint_cap(self.user, len(attrs.get("endpoints", [])))
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Job:
        endpoints = validated_data.pop("endpoints", [])
        with transaction.atomic():
            job = Job.objects.create(owner=self.user, **validated_data)
            for data in endpoints:
                Endpoint.objects.create(job=job, **data)
        return job


class JobUpdateSerializer(JobSerializer):
    """A job's own fields; its endpoints are read here and changed at /api/endpoints/."""

    endpoints = NestedEndpointSerializer(many=True, read_only=True)
    refused_field_messages = {
        "endpoints": "The endpoints of an existing job are managed at /api/endpoints/."
    }


class RunSerializer(serializers.ModelSerializer):
    job = serializers.IntegerField(source="endpoint.job_id", read_only=True)
    lateness_ms = serializers.IntegerField(read_only=True)
    worker = serializers.CharField(source="worker.name", read_only=True, allow_null=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "job",
            "endpoint",
            "scheduled_for",
            "started_at",
            "finished_at",
            "duration_ms",
            "lateness_ms",
            "status",
            "status_code",
            "error",
            "response_excerpt",
            "attempt",
            "source",
            "is_synthetic",
            "worker",
        ]
        read_only_fields = fields


# --- Action payloads ------------------------------------------------------------------------------


class PauseSerializer(StrictSerializer):
    until = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="Resume by itself at this time; omitted or null pauses until resumed.",
    )

    def validate_until(self, value: Any) -> Any:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("The pause must end in the future.")
        return value


class HintSerializer(StrictSerializer):
    interval_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_INTERVAL_SECONDS,
        help_text="Run at this interval while the hint lives (within the endpoint's clamps).",
    )
    next_run_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Run once at this time (a one-shot hint)."
    )
    ttl_seconds = serializers.IntegerField(
        min_value=1, help_text="How long the hint lives (at most HINT_MAX_TTL_SECONDS)."
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    def validate_next_run_at(self, value: Any) -> Any:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("The one-shot run must be in the future.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The clamps and TTL rules live with the control, which the admin calls too.
        try:
            control.validate_hint(
                self.context["endpoint"],
                attrs.get("interval_seconds"),
                attrs.get("next_run_at"),
                attrs["ttl_seconds"],
            )
        except control.ControlError as exc:
            raise serializers.ValidationError({"non_field_errors": [str(exc)]}) from None
        return attrs


class NextRunsQuerySerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=MAX_NEXT_RUNS, default=10)


class NextRunsSerializer(serializers.Serializer):
    timezone = serializers.CharField(help_text="The endpoint's timezone, in which times are given.")
    next_runs = serializers.ListField(child=serializers.DateTimeField())


class StatsQuerySerializer(serializers.Serializer):
    window = serializers.CharField(
        default="24h", help_text="How far back: a whole number and a unit (s, m, h, d), e.g. 24h."
    )
    include_synthetic = serializers.BooleanField(
        default=False, help_text="Count synthetic runs too (left out of user-facing figures)."
    )

    def validate_window(self, value: str) -> timedelta:
        try:
            return parse_duration(value, "window")
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class StatsSerializer(serializers.Serializer):
    """An endpoint's runs started in [since, until); durations and lateness in milliseconds."""

    endpoint_id = serializers.IntegerField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    include_synthetic = serializers.BooleanField()
    runs = serializers.IntegerField()
    successes = serializers.IntegerField()
    failures = serializers.IntegerField()
    timeouts = serializers.IntegerField()
    errors = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True, help_text="0..1; null without runs.")
    p50_duration_ms = serializers.IntegerField(allow_null=True)
    p95_duration_ms = serializers.IntegerField(allow_null=True)
    max_duration_ms = serializers.IntegerField(allow_null=True)
    p95_lateness_ms = serializers.IntegerField(allow_null=True)
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_status = serializers.ChoiceField(choices=Run.Status.choices, allow_null=True)

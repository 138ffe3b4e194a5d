"""API views: thin viewsets over the serializers; every action calls jobs.scheduling.control."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from jobs.api import serializers as api
from jobs.api.filters import EndpointFilter, JobFilter, RunFilter
from jobs.api.pagination import RunCursorPagination
from jobs.api.schema import ApiAutoSchema
from jobs.models import Endpoint, Job, Run
from jobs.scheduling import control, governor
from jobs.scheduling.clock import database_now
from jobs.scheduling.cron import get_zone
from monitoring.stats import endpoint_window_stats


class ControlRejected(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus a JSON answer (not Django's HTML page) for an oversized body."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = BodyTooLarge(f"The request body is larger than {limit} bytes.")
    return drf_exception_handler(exc, context)


def controlled(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a control; its ControlError is the user's mistake, answered with a 400."""
    try:
        return function(*args, **kwargs)
    except control.ControlError as exc:
        raise ControlRejected(str(exc)) from None


class OwnedViewSet(viewsets.GenericViewSet):
    """A viewset over the requesting user's objects (get_queryset filters by owner), whose
    schema lists the error responses too."""

    schema = ApiAutoSchema()


@extend_schema_view(
    create=extend_schema(
        summary="Create a job with its endpoints",
        description="Endpoints are created with the job; afterwards they are managed at "
        "/api/endpoints/ (a job's update does not accept `endpoints`).",
    ),
)
class JobViewSet(OwnedViewSet, viewsets.ModelViewSet):
    filterset_class = JobFilter

    def get_queryset(self) -> QuerySet[Job]:
        return Job.objects.filter(owner_id=self.request.user.pk).prefetch_related("endpoints")

    def get_serializer_class(self) -> type:
        if self.action in {"update", "partial_update"}:
            return api.JobUpdateSerializer
        return api.JobSerializer

    @extend_schema(request=None, responses=api.JobSerializer, summary="Pause every endpoint")
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: int) -> Response:
        return self._respond(control.pause_job(self.get_object()))

    @extend_schema(request=None, responses=api.JobSerializer, summary="Resume the job")
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: int) -> Response:
        return self._respond(control.resume_job(self.get_object()))

    def _respond(self, job: Job) -> Response:
        return Response(
            api.JobSerializer(
                self.get_queryset().get(pk=job.pk), context=self.get_serializer_context()
            ).data
        )


@extend_schema_view(
    partial_update=extend_schema(
        description="Changing the schedule (interval_seconds, cron, timezone, min/max) "
        "replans the endpoint. To switch from an interval to a cron, send "
        '{"cron": "...", "interval_seconds": null}.'
    )
)
class EndpointViewSet(OwnedViewSet, viewsets.ModelViewSet):
    filterset_class = EndpointFilter
    # The payloads of the actions that take one (the browsable API shows their forms).
    action_serializers = {"pause": api.PauseSerializer, "hints": api.HintSerializer}

    def get_queryset(self) -> QuerySet[Endpoint]:
        return Endpoint.objects.filter(job__owner_id=self.request.user.pk).select_related("job")

    def get_serializer_class(self) -> type:
        return self.action_serializers.get(self.action, api.EndpointSerializer)

    @extend_schema(request=api.PauseSerializer, responses=api.EndpointSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: int) -> Response:
        """Pause until `until`, or indefinitely."""
        payload = self._payload()
        return self._respond(control.pause_endpoint(self.get_object(), payload.get("until")))

    @extend_schema(request=None, responses=api.EndpointSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: int) -> Response:
        return self._respond(control.resume_endpoint(self.get_object()))

    @extend_schema(
        request=None,
        responses={202: api.EndpointSerializer},
        summary="Run once now, outside the schedule",
    )
    @action(detail=True, methods=["post"])
    def run_now(self, request: Request, pk: int) -> Response:
        endpoint = control.request_run_now(self.get_object())
        return self._respond(endpoint, status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=api.HintSerializer,
        responses=api.EndpointSerializer,
        summary="Set an interval or one-shot hint that lives ttl_seconds",
    )
    @action(detail=True, methods=["post"])
    def hints(self, request: Request, pk: int) -> Response:
        endpoint = self.get_object()
        payload = self._payload(endpoint=endpoint)
        return self._respond(controlled(control.set_hint, endpoint, **payload))

    @extend_schema(request=None, responses=api.EndpointSerializer)
    @action(detail=True, methods=["post"])
    def clear_hints(self, request: Request, pk: int) -> Response:
        return self._respond(control.clear_hints(self.get_object()))

    @extend_schema(request=None, responses=api.EndpointSerializer)
    @action(detail=True, methods=["post"])
    def reset_failures(self, request: Request, pk: int) -> Response:
        return self._respond(control.reset_failures(self.get_object()))

    @extend_schema(
        parameters=[api.NextRunsQuerySerializer],
        responses=api.NextRunsSerializer,
        summary="The next fire times, in the endpoint's timezone",
    )
    @action(detail=True, methods=["get"])
    def next_runs(self, request: Request, pk: int) -> Response:
        endpoint = self.get_object()
        query = api.NextRunsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        zone = get_zone(endpoint.timezone)
        times = governor.upcoming_runs(
            governor.ScheduleState.of(endpoint),
            endpoint.next_run_at,
            database_now(),
            query.validated_data["count"],
            governor.Policy.from_settings(),
        )
        return Response(
            {
                "timezone": endpoint.timezone,
                "next_runs": [t.astimezone(zone).isoformat() for t in times],
            }
        )

    @extend_schema(
        parameters=[api.StatsQuerySerializer],
        responses=api.StatsSerializer,
        summary="Success rate and durations over a window",
    )
    @action(detail=True, methods=["get"])
    def stats(self, request: Request, pk: int) -> Response:
        endpoint = self.get_object()
        query = api.StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        until = database_now()
        since = until - query.validated_data["window"]
        include_synthetic = query.validated_data["include_synthetic"]
        figures = endpoint_window_stats(
            [endpoint.pk], since, until, include_synthetic=include_synthetic
        )[endpoint.pk]
        data = {
            **figures.to_dict(),
            "last_run_at": figures.last_run_at,
            "since": since,
            "until": until,
            "include_synthetic": include_synthetic,
        }
        return Response(api.StatsSerializer(data).data)

    def _payload(self, **context: Any) -> dict[str, Any]:
        serializer = self.get_serializer_class()(
            data=self.request.data, context={**self.get_serializer_context(), **context}
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _respond(self, endpoint: Endpoint, code: int = status.HTTP_200_OK) -> Response:
        serializer = api.EndpointSerializer(endpoint, context=self.get_serializer_context())
        return Response(serializer.data, status=code)


class RunViewSet(OwnedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Runs, newest first; read-only."""

    serializer_class = api.RunSerializer
    filterset_class = RunFilter
    pagination_class = RunCursorPagination

    def get_queryset(self) -> QuerySet[Run]:
        return Run.objects.filter(endpoint__job__owner_id=self.request.user.pk).select_related(
            "endpoint", "worker"
        )

"""GET /api/health for load balancers and smoke, and GET /metrics for Prometheus."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from monitoring.health import check_health
from monitoring.metrics import render_metrics


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 when the database answers and a scheduler heartbeats, else 503 with the reasons."""
    now = timezone.now()
    result = check_health(now)
    return JsonResponse(result.to_dict(now), status=200 if result.ok else 503)


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    # Bytes: compare_digest refuses non-ASCII str, and a header may carry anything.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        response = HttpResponse(
            "Unauthorized: send Authorization: Bearer <METRICS_TOKEN>\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(
        render_metrics(timezone.now()), content_type="text/plain; version=0.0.4; charset=utf-8"
    )

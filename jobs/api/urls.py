"""API routes: the resources, the OpenAPI schema and its Swagger UI."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from jobs.api.views import EndpointViewSet, JobViewSet, RunViewSet

router = DefaultRouter()
router.register("jobs", JobViewSet, basename="job")
router.register("endpoints", EndpointViewSet, basename="endpoint")
router.register("runs", RunViewSet, basename="run")


@csrf_exempt  # answers every method with the same 404; a CSRF page would be HTML
def not_found(request: HttpRequest) -> JsonResponse:
    """Any other /api/.../ path (an id that is not a number, say): JSON, like the API's 404s."""
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    *router.urls,
    # Last, and only for paths ending in a slash, so that APPEND_SLASH still redirects /api/jobs.
    re_path(r"^.+/$", not_found),
]

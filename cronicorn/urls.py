"""URL map: the admin, the API under /api/, and the Prometheus /metrics."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/synthetic/", include("synthetic.urls")),
    path("api/", include("jobs.api.urls")),
    path("", include("monitoring.urls")),
]

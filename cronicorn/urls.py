"""URL map: the admin, the API under /api/, and the Prometheus /metrics."""

from django.contrib import admin
from django.urls import include, path

from monitoring import views as monitoring_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/synthetic/", include("synthetic.urls")),
    # Before the API include: no authentication, for load balancers and `manage.py smoke`.
    path("api/health", monitoring_views.health, name="health"),
    path("api/", include("jobs.api.urls")),
    path("", include("monitoring.urls")),
]

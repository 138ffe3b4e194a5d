"""GET /metrics (mounted at the site root; /api/health is in cronicorn/urls.py)."""

from __future__ import annotations

from django.urls import path

from monitoring import views

urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
]

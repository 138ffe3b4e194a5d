"""Synthetic targets, under /api/synthetic/ (see cronicorn/urls.py)."""

from __future__ import annotations

from django.urls import path

from synthetic import views

app_name = "synthetic"

urlpatterns = [
    path("health", views.health, name="health"),
    path("echo", views.echo, name="echo"),
    path("slow", views.slow, name="slow"),
    path("flaky", views.flaky, name="flaky"),
]

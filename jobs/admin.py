"""Admin registrations (the operators' home; the fuller admin is built on these)."""

from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin

from jobs.models import ApiKey, Endpoint, Job, Run, SchedulerWorker


class EndpointInline(admin.StackedInline):
    model = Endpoint
    extra = 0
    fields = ["name", "url", "method", "interval_seconds", "cron", "timezone", "timeout_seconds"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "is_synthetic", "status", "created_at"]
    list_filter = ["is_synthetic", "status"]
    search_fields = ["name", "description"]
    inlines = [EndpointInline]


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "job", "url", "next_run_at", "failure_count"]
    search_fields = ["name", "url"]
    list_select_related = ["job"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["endpoint", "scheduled_for", "status", "status_code", "duration_ms"]
    list_filter = ["status"]
    list_select_related = ["endpoint__job"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SchedulerWorker)
class SchedulerWorkerAdmin(admin.ModelAdmin):
    list_display = ["name", "hostname", "pid", "started_at", "heartbeat_at", "stopped_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    list_display = [*APIKeyModelAdmin.list_display, "owner"]

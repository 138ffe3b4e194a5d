"""The operators' admin: jobs with their endpoints inline, schedules in words, read-only runs that
stay fast on a million rows, the operator controls as actions, and the synthetic dashboard.

Every action goes through jobs.scheduling.control, the same functions the API uses. Per-row
figures on a list page (success rates, liveness) are computed once for the page's rows, through
monitoring's shared queries, never once per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

from cron_descriptor import ExpressionDescriptor, Options
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from jobs.admin_forms import EndpointForm, save_endpoint
from jobs.admin_views import dashboard_view
from jobs.models import ApiKey, Endpoint, Job, Run, SchedulerWorker
from jobs.scheduling import control
from jobs.scheduling.cron import get_zone
from jobs.scheduling.governor import PAUSED_FOREVER, Policy, ScheduleState, upcoming_runs
from monitoring.health import live_workers
from monitoring.stats import endpoint_window_stats
from synthetic.seeding import seed_synthetic_jobs

UPCOMING_COUNT = 5
RECENT_RUNS_COUNT = 10
SUCCESS_WINDOW = timedelta(hours=24)
# The run list counts exactly up to this many rows, then trusts PostgreSQL's estimate.
EXACT_COUNT_LIMIT = 10_000

admin.site.site_header = "Cronicorn administration"
admin.site.site_title = "Cronicorn"
# There is no public site at /: "View site" opens the API documentation.
admin.site.site_url = "/api/docs/"

# --- Schedules in words -------------------------------------------------------------------------

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def interval_in_words(seconds: int) -> str:
    """'every 5 minutes', 'every hour', 'every 90 seconds': the largest unit that divides evenly."""
    unit, size = next((unit, size) for unit, size in _UNITS if seconds % size == 0)
    count = seconds // size
    return f"every {unit}" if count == 1 else f"every {count} {unit}s"


def schedule_in_words(endpoint: Endpoint) -> str:
    if endpoint.interval_seconds:
        return interval_in_words(endpoint.interval_seconds)
    if not endpoint.cron:
        return "no schedule"
    options = Options()
    options.use_24hour_time_format = True
    description = ExpressionDescriptor(endpoint.cron, options).get_description()
    return f"{description} ({endpoint.timezone})"


def upcoming_fire_times(
    endpoint: Endpoint, now: datetime, count: int = UPCOMING_COUNT
) -> list[datetime]:
    """The next `count` planned runs (assuming success), on the endpoint's own clock."""
    zone = get_zone(endpoint.timezone)
    times = upcoming_runs(
        ScheduleState.of(endpoint), endpoint.next_run_at, now, count, Policy.from_settings()
    )
    return [t.astimezone(zone) for t in times if t < PAUSED_FOREVER]


def pause_in_words(endpoint: Endpoint, now: datetime) -> str:
    if endpoint.paused_until is None or endpoint.paused_until <= now:
        return "running"
    if endpoint.paused_until >= PAUSED_FOREVER:
        return "paused indefinitely"
    return f"paused until {_local(endpoint.paused_until, endpoint)}"


def hints_in_words(endpoint: Endpoint, now: datetime) -> str:
    live = endpoint.hint_expires_at is not None and endpoint.hint_expires_at > now
    if not live:
        return "none"
    parts = []
    if endpoint.hint_interval_seconds:
        parts.append(interval_in_words(endpoint.hint_interval_seconds))
    if endpoint.hint_next_run_at:
        parts.append(f"next at {_local(endpoint.hint_next_run_at, endpoint)}")
    if endpoint.hint_reason:
        parts.append(f"because {endpoint.hint_reason!r}")
    parts.append(f"until {_local(endpoint.hint_expires_at, endpoint)}")
    return ", ".join(parts)


def _local(moment: datetime, endpoint: Endpoint) -> str:
    return moment.astimezone(get_zone(endpoint.timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")


# --- Actions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointControl:
    label: str  # the action's and the button's name
    verb: str  # the message reads "<verb> <n> endpoint(s)."
    apply: Callable[[Endpoint], Endpoint]


ENDPOINT_CONTROLS: dict[str, EndpointControl] = {
    "run_now": EndpointControl("Run now", "Requested a run of", control.request_run_now),
    "pause": EndpointControl("Pause", "Paused", control.pause_endpoint),
    "resume": EndpointControl("Resume", "Resumed", control.resume_endpoint),
    "reset_failures": EndpointControl(
        "Reset failures", "Reset the failure count of", control.reset_failures
    ),
    "clear_hints": EndpointControl("Clear hints", "Cleared the hints of", control.clear_hints),
}


def apply_control(name: str, endpoints: Iterable[Endpoint]) -> str:
    """Apply one operator control to each endpoint; return the message that says what was done."""
    chosen = ENDPOINT_CONTROLS[name]
    count = 0
    for endpoint in endpoints:
        chosen.apply(endpoint)
        count += 1
    return f"{chosen.verb} {count} endpoint{pluralize(count)}."


def _endpoint_action(name: str):
    @admin.action(description=ENDPOINT_CONTROLS[name].label, permissions=["change"])
    def action(modeladmin: EndpointAdmin, request: HttpRequest, queryset: QuerySet[Endpoint]):
        modeladmin.message_user(request, apply_control(name, queryset), messages.SUCCESS)

    action.__name__ = name
    return action


def _job_action(name: str):
    description = f"{ENDPOINT_CONTROLS[name].label} (all their endpoints)"

    @admin.action(description=description, permissions=["change"])
    def action(modeladmin: JobAdmin, request: HttpRequest, queryset: QuerySet[Job]):
        endpoints = Endpoint.objects.filter(job__in=queryset)
        modeladmin.message_user(request, apply_control(name, endpoints), messages.SUCCESS)

    action.__name__ = f"{name}_all"
    return action


# --- Jobs and endpoints -------------------------------------------------------------------------


def decorate_page(changelist, decorate: Callable[[list], None]):
    """Let `decorate` attach figures to the rows of the page in one go (the template then
    iterates the same, already evaluated, queryset)."""
    decorate(list(changelist.result_list))
    return changelist


class EndpointInline(admin.StackedInline):
    model = Endpoint
    form = EndpointForm
    extra = 0
    show_change_link = True
    fieldsets = [
        (None, {"fields": ["name", ("method", "url")]}),
        ("Schedule", {"fields": [("interval_seconds", "cron", "timezone"), "state"]}),
        (
            "Request",
            {
                "classes": ["collapse"],
                "fields": [
                    "headers",
                    "body",
                    ("timeout_seconds", "max_response_bytes"),
                    "expected_status_codes",
                ],
            },
        ),
    ]
    readonly_fields = ["state"]

    @admin.display(description="State")
    def state(self, endpoint: Endpoint) -> str:
        if endpoint.pk is None:
            return "-"
        now = timezone.now()
        next_run = _local(endpoint.next_run_at, endpoint) if endpoint.next_run_at else "-"
        return (
            f"{schedule_in_words(endpoint)}; {pause_in_words(endpoint, now)}; next run {next_run}; "
            f"{endpoint.failure_count} consecutive failure{pluralize(endpoint.failure_count)}"
        )


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "owner",
        "is_synthetic",
        "status",
        "endpoint_count",
        "last_run_status",
        "success_rate_24h",
    ]
    list_filter = ["is_synthetic", "status", "owner"]
    search_fields = ["name", "description", "owner__username"]
    list_select_related = ["owner"]
    fields = ["owner", "name", "description", "is_synthetic", "status", "signing_secret"]
    inlines = [EndpointInline]
    actions = [
        _job_action("run_now"),
        "pause_jobs",
        "resume_jobs",
        _job_action("reset_failures"),
        _job_action("clear_hints"),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return super().get_queryset(request).annotate(endpoint_count=Count("endpoints"))

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def get_changelist_instance(self, request: HttpRequest):
        return decorate_page(super().get_changelist_instance(request), self._add_run_figures)

    @staticmethod
    def _add_run_figures(jobs: list[Job]) -> None:
        endpoints = list(Endpoint.objects.filter(job__in=jobs).values_list("id", "job_id"))
        now = timezone.now()
        stats = endpoint_window_stats(
            [endpoint_id for endpoint_id, _ in endpoints],
            now - SUCCESS_WINDOW,
            now,
            include_synthetic=True,
        )
        by_job: dict[int, list] = {}
        for endpoint_id, job_id in endpoints:
            by_job.setdefault(job_id, []).append(stats[endpoint_id])
        for job in jobs:
            figures = [s for s in by_job.get(job.pk, []) if s.runs]
            runs = sum(s.runs for s in figures)
            job.success_rate = sum(s.successes for s in figures) / runs if runs else None
            latest = max(figures, key=lambda s: s.last_run_at, default=None)
            job.last_status = latest.last_status if latest else None

    @admin.display(description="Endpoints", ordering="endpoint_count")
    def endpoint_count(self, job: Job) -> int:
        return job.endpoint_count

    @admin.display(description="Last run (24 h)")
    def last_run_status(self, job: Job) -> str:
        return getattr(job, "last_status", None) or "-"

    @admin.display(description="Success (24 h)")
    def success_rate_24h(self, job: Job) -> str:
        rate = getattr(job, "success_rate", None)
        return "-" if rate is None else f"{rate:.1%}"

    @admin.action(
        description="Pause (the scheduler skips all their endpoints)", permissions=["change"]
    )
    def pause_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._set_status(request, queryset, control.pause_job, "Paused")

    @admin.action(description="Resume", permissions=["change"])
    def resume_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._set_status(request, queryset, control.resume_job, "Resumed")

    def _set_status(self, request, queryset, function: Callable[[Job], Job], verb: str) -> None:
        jobs = list(queryset)
        for job in jobs:
            function(job)
        endpoints = Endpoint.objects.filter(job__in=jobs).count()
        self.message_user(
            request,
            f"{verb} {len(jobs)} job{pluralize(len(jobs))} "
            f"({endpoints} endpoint{pluralize(endpoints)}).",
            messages.SUCCESS,
        )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "seed-synthetic/",
                self.admin_site.admin_view(self.seed_synthetic_view),
                name="{}_{}_seed_synthetic".format(*info),
            ),
            path(
                "dashboard/",
                self.admin_site.admin_view(dashboard_view),
                name="cronicorn_dashboard",
            ),
            *super().get_urls(),
        ]

    def seed_synthetic_view(self, request: HttpRequest) -> HttpResponse:
        """POST: create or update the synthetic jobs (manage.py seed_synthetic), then list them."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        changelist = reverse("admin:jobs_job_changelist")
        try:
            summary = seed_synthetic_jobs()
        except ValidationError as exc:  # e.g. a SITE_URL the endpoints cannot call
            self.message_user(request, f"Cannot seed synthetic jobs: {exc}", messages.ERROR)
            return redirect(changelist)
        self.message_user(request, str(summary), messages.SUCCESS)
        return redirect(f"{changelist}?is_synthetic__exact=1")


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = [
        "name",
        "job",
        "schedule",
        "next_run_at",
        "last_run_at",
        "failure_count",
        "paused",
    ]
    list_filter = ["job__is_synthetic", "job__status", "method"]
    search_fields = ["name", "url", "job__name"]
    list_select_related = ["job"]
    autocomplete_fields = ["job"]
    actions = [_endpoint_action(name) for name in ENDPOINT_CONTROLS]
    fieldsets = [
        (None, {"fields": ["job", "name", ("method", "url")]}),
        (
            "Request",
            {
                "fields": [
                    "headers",
                    "body",
                    ("timeout_seconds", "max_response_bytes"),
                    "expected_status_codes",
                ]
            },
        ),
        (
            "Schedule",
            {
                "description": "Give either an interval in seconds or a cron expression.",
                "fields": [
                    ("interval_seconds", "cron", "timezone"),
                    ("min_interval_seconds", "max_interval_seconds"),
                    "paused_until",
                    "schedule",
                    "upcoming",
                ],
            },
        ),
        (
            "State",
            {
                "fields": [
                    "paused",
                    "hints",
                    ("next_run_at", "next_run_source"),
                    "run_requested_at",
                    "last_run_at",
                    "failure_count",
                    ("lease_owner", "lease_until"),
                    "recent_runs",
                ]
            },
        ),
    ]
    readonly_fields = [
        "schedule",
        "upcoming",
        "paused",
        "hints",
        "next_run_at",
        "next_run_source",
        "run_requested_at",
        "last_run_at",
        "failure_count",
        "lease_owner",
        "lease_until",
        "recent_runs",
    ]

    def save_model(self, request, obj: Endpoint, form, change: bool) -> None:
        save_endpoint(obj, form.changed_data)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/control/<str:name>/",
                self.admin_site.admin_view(self.control_view),
                name="jobs_endpoint_control",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        controls = [(name, chosen.label) for name, chosen in ENDPOINT_CONTROLS.items()]
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "endpoint_controls": controls}
        )

    def control_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        """POST: one control on this endpoint (the buttons of its page), then back to it."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        endpoint = self.get_object(request, object_id)
        if endpoint is None or name not in ENDPOINT_CONTROLS:
            raise Http404("No such endpoint or control.")
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied
        self.message_user(request, apply_control(name, [endpoint]), messages.SUCCESS)
        return redirect("admin:jobs_endpoint_change", endpoint.pk)

    @admin.display(description="Schedule")
    def schedule(self, endpoint: Endpoint) -> str:
        return schedule_in_words(endpoint) if endpoint.pk else "-"

    @admin.display(description=f"Next {UPCOMING_COUNT} runs")
    def upcoming(self, endpoint: Endpoint) -> str:
        if endpoint.pk is None:
            return "-"
        times = upcoming_fire_times(endpoint, timezone.now())
        if not times:
            return "none planned"
        return format_html_join(
            "", "<div>{}</div>", ((t.strftime("%a %Y-%m-%d %H:%M:%S %Z"),) for t in times)
        )

    @admin.display(description="Pause")
    def paused(self, endpoint: Endpoint) -> str:
        return pause_in_words(endpoint, timezone.now())

    @admin.display(description="Hints")
    def hints(self, endpoint: Endpoint) -> str:
        return hints_in_words(endpoint, timezone.now())

    @admin.display(description="Recent runs")
    def recent_runs(self, endpoint: Endpoint) -> str:
        if endpoint.pk is None:
            return "-"
        runs = endpoint.runs.order_by("-started_at", "-id")[:RECENT_RUNS_COUNT]
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:jobs_run_change", args=[run.pk]),
                    timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M:%S"),
                    run.source,
                    run.status,
                    run.duration_ms,
                    run.status_code or "",
                )
                for run in runs
            ),
        )
        all_runs = reverse("admin:jobs_run_changelist") + f"?endpoint__id__exact={endpoint.pk}"
        if not rows:
            return "no runs yet"
        return format_html(
            '<table class="recent-runs"><tbody>{}</tbody></table><a href="{}">All runs</a>',
            rows,
            all_runs,
        )


# --- Runs ---------------------------------------------------------------------------------------


class RunPaginator(Paginator):
    """Counts exactly up to EXACT_COUNT_LIMIT runs (a bounded index scan), and beyond that takes
    PostgreSQL's planner estimate: a count(*) over a million runs on every page is what makes run
    lists slow. SQLite has no estimate: it reports the limit."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list.order_by()
        exact = queryset[: EXACT_COUNT_LIMIT + 1].count()
        if exact <= EXACT_COUNT_LIMIT or connection.vendor != "postgresql":
            return exact
        return max(planner_estimate(queryset), exact)


def planner_estimate(queryset: QuerySet) -> int:
    """The number of rows PostgreSQL's planner expects the query to return."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]  # psycopg reads json into Python objects
    return int(plan[0]["Plan"]["Plan Rows"])


def _month_starts(first: date, last: date) -> list[date]:
    months, current = [], first.replace(day=1)
    while current <= last:
        months.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return months


class RunChangeList(ChangeList):
    """The run list, with a date drill-down that never reads the whole table.

    Django's drill-down asks for the DISTINCT months or days of the filtered runs: a scan of every
    run (0.4 s on a million). Here the choices are the calendar between the first and last run
    (read from the started_at index); a day without runs simply lists nothing.
    """

    @cached_property
    def date_drilldown(self) -> dict:
        field = self.date_hierarchy
        names = {part: f"{field}__{part}" for part in ("year", "month", "day")}
        chosen = {part: self.params.get(name) for part, name in names.items()}

        def link(parts: dict) -> str:
            return self.get_query_string({names[k]: v for k, v in parts.items()}, [f"{field}__"])

        if chosen["year"] and chosen["month"] and chosen["day"]:
            day = date(int(chosen["year"]), int(chosen["month"]), int(chosen["day"]))
            return {
                "show": True,
                "back": {
                    "link": link({"year": day.year, "month": day.month}),
                    "title": capfirst(formats.date_format(day, "YEAR_MONTH_FORMAT")),
                },
                "choices": [{"title": capfirst(formats.date_format(day, "MONTH_DAY_FORMAT"))}],
            }
        if not self.result_count:
            return {"show": False}
        # Two index probes (ORDER BY ... LIMIT 1); PostgreSQL does not turn MIN/MAX over a join
        # (the job filter) into index probes.
        moments = self.queryset.order_by(field).values_list(field, flat=True)
        first, last = (timezone.localtime(m).date() for m in (moments.first(), moments.last()))
        year, month = chosen["year"], chosen["month"]
        if not year and first.year == last.year:
            year = first.year
            if first.month == last.month:
                month = first.month
        if year and month:
            days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
            return {
                "show": True,
                "back": {"link": link({"year": year}), "title": str(year)},
                "choices": [
                    {
                        "link": link({"year": year, "month": month, "day": day.day}),
                        "title": capfirst(formats.date_format(day, "MONTH_DAY_FORMAT")),
                    }
                    for day in days
                ],
            }
        if year:
            return {
                "show": True,
                "back": {"link": link({}), "title": "All dates"},
                "choices": [
                    {
                        "link": link({"year": year, "month": start.month}),
                        "title": capfirst(formats.date_format(start, "YEAR_MONTH_FORMAT")),
                    }
                    for start in _month_starts(first, last)
                ],
            }
        return {
            "show": True,
            "back": None,
            "choices": [
                {"link": link({"year": str(y)}), "title": str(y)}
                for y in range(first.year, last.year + 1)
            ],
        }


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "job",
        "endpoint_name",
        "status",
        "status_code",
        "duration_ms",
        "lateness",
        "source",
        "attempt",
        "is_synthetic",
    ]
    list_filter = ["status", "is_synthetic", ("endpoint__job", admin.RelatedFieldListFilter)]
    date_hierarchy = "started_at"
    list_select_related = ["endpoint__job"]
    show_full_result_count = False
    # Facet counts would count(*) every filter choice over all runs.
    show_facets = admin.ShowFacets.NEVER
    paginator = RunPaginator
    fieldsets = [
        (None, {"fields": ["endpoint", "source", "attempt", "worker", "is_synthetic"]}),
        (
            "Timing",
            {"fields": ["scheduled_for", "started_at", "finished_at", "duration_ms", "lateness"]},
        ),
        ("Outcome", {"fields": ["status", "status_code", "error", "response"]}),
    ]
    readonly_fields = ["lateness", "response"]

    def get_changelist(self, request: HttpRequest, **kwargs):
        return RunChangeList

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Runs are history; prune_runs removes old ones.
        return False

    @admin.display(description="Job", ordering="endpoint__job__name")
    def job(self, run: Run) -> str:
        return run.endpoint.job.name

    @admin.display(description="Endpoint", ordering="endpoint__name")
    def endpoint_name(self, run: Run) -> str:
        return run.endpoint.name

    @admin.display(description="Lateness")
    def lateness(self, run: Run) -> str:
        return f"{run.lateness_ms} ms"

    @admin.display(description="Response excerpt")
    def response(self, run: Run) -> str:
        if not run.response_excerpt:
            return "-"
        return format_html('<pre class="response-excerpt">{}</pre>', run.response_excerpt)


# --- Workers and API keys -----------------------------------------------------------------------


@admin.register(SchedulerWorker)
class SchedulerWorkerAdmin(admin.ModelAdmin):
    list_display = ["name", "hostname", "pid", "started_at", "heartbeat_at", "stopped_at", "alive"]
    readonly_fields = ["name", "hostname", "pid", "started_at", "heartbeat_at", "stopped_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_changelist_instance(self, request: HttpRequest):
        return decorate_page(super().get_changelist_instance(request), self._add_liveness)

    @staticmethod
    def _add_liveness(workers: list[SchedulerWorker]) -> None:
        alive = set(live_workers().filter(pk__in=[w.pk for w in workers]).values_list("pk"))
        for worker in workers:
            worker.is_alive = (worker.pk,) in alive

    @admin.display(description="Alive", boolean=True)
    def alive(self, worker: SchedulerWorker) -> bool:
        return getattr(worker, "is_alive", False)


# The library registers its own key model; Cronicorn's keys are ApiKey (with an owner), and two
# "API keys" entries would send operators to the wrong one.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    """Creating a key shows it once, in a message; only its hash is stored."""

    list_display = [*APIKeyModelAdmin.list_display, "owner"]
    list_filter = ["revoked", "created"]
    search_fields = [*APIKeyModelAdmin.search_fields, "owner__username"]
    list_select_related = ["owner"]
    fields = ["owner", "name", "expiry_date", "revoked", "prefix"]

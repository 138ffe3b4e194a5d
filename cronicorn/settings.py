"""Cronicorn settings: everything an operator may change comes from the environment.

See README.md "Configuration" for the list. A malformed value stops the process at start with a
message naming the variable (cronicorn.env).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from cronicorn.env import (
    env_bool,
    env_db,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("CRONICORN_DATA_DIR", str(BASE_DIR / "data")))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'), or set DEBUG=true for local development."
        )
    # A development key that changes on every start: sessions do not survive a restart.
    SECRET_KEY = "dev-insecure-" + get_random_secret_key()

SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000")
_site_host = urlsplit(SITE_URL).hostname or "127.0.0.1"

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [_site_host, "127.0.0.1", "localhost"] if DEBUG else [_site_host]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "jobs",
    "synthetic",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cronicorn.urls"
WSGI_APPLICATION = "cronicorn.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------

DATABASES = {"default": env_db("DATABASE_URL", f"sqlite:///{DATA_DIR / 'cronicorn.sqlite3'}")}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    if _db["NAME"] != ":memory:":
        # A fresh clone has no data/ folder yet (it is not in git): SQLite cannot create it.
        Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN, so the
    # web app and the scheduler queue for it (up to the timeout) instead of failing mid-transaction.
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    _db["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
    _db["CONN_HEALTH_CHECKS"] = True
    # Labelled sessions let a DBA tell the scheduler from the web app in pg_stat_activity.
    _db.setdefault("OPTIONS", {})["application_name"] = (
        "cronicorn-scheduler" if "runscheduler" in sys.argv else "cronicorn-web"
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Web ----------------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Serve files straight from the apps when collectstatic has not run (tests, make run).
WHITENOISE_USE_FINDERS = DEBUG

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = SITE_URL.startswith("https://")
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Logging ------------------------------------------------------------------------------------

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = env_str("LOG_FORMAT", "text").lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be text or json")
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} must be DEBUG, INFO, WARNING or ERROR")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "cronicorn.logging.JsonFormatter"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- REST API -----------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The key comes first: its authenticate_header makes an anonymous request a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "jobs.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["jobs.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "jobs.api.pagination.PagePagination",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "EXCEPTION_HANDLER": "jobs.api.views.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Cronicorn API",
    "DESCRIPTION": "Schedule HTTP calls, watch their runs, and steer the schedule.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets come from drf-spectacular-sidecar: the docs work without a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "jobs.api.schema.forbid_unknown_request_fields",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "jobs.models.Run.Status",
        "JobStatusEnum": "jobs.models.Job.Status",
    },
}

# --- API ----------------------------------------------------------------------------------------

# Per-user caps: one account cannot fill the scheduler on its own.
API_MAX_JOBS_PER_USER = env_int("API_MAX_JOBS_PER_USER", 500, minimum=1)
API_MAX_ENDPOINTS_PER_USER = env_int("API_MAX_ENDPOINTS_PER_USER", 2000, minimum=1)
# The request an endpoint sends: its body, and its headers (names and values together).
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 64 * 1024, minimum=0)
API_MAX_HEADER_BYTES = env_int("API_MAX_HEADER_BYTES", 8 * 1024, minimum=0)
# Requests per API key (or per session user); DRF's rate syntax: N/second|minute|hour|day.
API_THROTTLE_RATE = env_str("API_THROTTLE_RATE", "600/minute")
if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", API_THROTTLE_RATE):
    raise ImproperlyConfigured(f"API_THROTTLE_RATE={API_THROTTLE_RATE!r} must look like 600/minute")
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 50, minimum=1)
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 500, minimum=1)

# --- Scheduler ----------------------------------------------------------------------------------

# Hosts the scheduler may call even though they resolve to private, loopback or link-local
# addresses. The SITE_URL host is always allowed so that synthetic jobs can call the app itself.
OUTBOUND_ALLOWED_HOSTS = env_list("OUTBOUND_ALLOWED_HOSTS", [])
SCHEDULER_LEASE_SECONDS = env_int("SCHEDULER_LEASE_SECONDS", 20, minimum=5)
SCHEDULER_HEARTBEAT_SECONDS = env_float("SCHEDULER_HEARTBEAT_SECONDS", 5, minimum=0.5)
# A worker whose heartbeat is older than this is considered dead by /api/health and smoke.
SCHEDULER_LIVENESS_SECONDS = env_int("SCHEDULER_LIVENESS_SECONDS", 60, minimum=5)
# A due slot later than this was missed by downtime: it runs once, spread over the window below.
SCHEDULER_MISFIRE_GRACE_SECONDS = env_int("SCHEDULER_MISFIRE_GRACE_SECONDS", 60, minimum=1)
SCHEDULER_MISFIRE_SPREAD_SECONDS = env_int("SCHEDULER_MISFIRE_SPREAD_SECONDS", 60, minimum=0)
# Failure backoff doubles the wait up to max_interval_seconds, or this when an endpoint has none.
SCHEDULER_BACKOFF_CAP_SECONDS = env_int("SCHEDULER_BACKOFF_CAP_SECONDS", 3600, minimum=1)
# The longest time to live of an adaptive hint.
HINT_MAX_TTL_SECONDS = env_int("HINT_MAX_TTL_SECONDS", 7 * 24 * 3600, minimum=60)

# --- Monitoring ---------------------------------------------------------------------------------

# The longest sleep GET /api/synthetic/slow?ms=N accepts, so nobody can hold a web worker for long.
SYNTHETIC_SLOW_MAX_MS = env_int("SYNTHETIC_SLOW_MAX_MS", 10_000, minimum=0)
# The failure rate seed_synthetic asks of the flaky target; synthetic_health judges it against it.
SYNTHETIC_FLAKY_FAILURE_RATE = env_float("SYNTHETIC_FLAKY_FAILURE_RATE", 0.2, minimum=0)
if SYNTHETIC_FLAKY_FAILURE_RATE >= 1:
    raise ImproperlyConfigured(
        f"SYNTHETIC_FLAKY_FAILURE_RATE={SYNTHETIC_FLAKY_FAILURE_RATE} must be below 1"
    )
# A synthetic endpoint whose lateness p95 exceeds this turns the verdict amber (still healthy).
SYNTHETIC_LATENESS_WARN_SECONDS = env_float("SYNTHETIC_LATENESS_WARN_SECONDS", 10, minimum=0)
# Slack-compatible webhook synthetic_health posts to on failure and on recovery (empty: none).
ALERT_WEBHOOK_URL = env_str("ALERT_WEBHOOK_URL", "")
# When set, GET /metrics requires "Authorization: Bearer <token>".
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# /metrics reports runs started within this window (cheap on a large runs table: an index range).
METRICS_WINDOW_SECONDS = env_int("METRICS_WINDOW_SECONDS", 300, minimum=10)

# --- Run history ---------------------------------------------------------------------------------

# prune_runs keeps raw runs this long; older hours live on as hourly rollups (monitoring.rollups).
RUNS_RETENTION_DAYS = env_int("RUNS_RETENTION_DAYS", 7, minimum=1)
# Hourly rollups are kept this long, then pruned too.
ROLLUP_RETENTION_DAYS = env_int("ROLLUP_RETENTION_DAYS", 400, minimum=1)
# An hour is rolled up only this long after it ends: runs are recorded when they finish (timeouts,
# batched writes, a worker retrying through a database hiccup), so a fresh hour may still grow.
ROLLUP_DELAY_MINUTES = env_int("ROLLUP_DELAY_MINUTES", 60, minimum=0)

"""Settings fail loudly at start, naming the variable, and have sane defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL"}
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_without_a_secret_key_refuses_to_start():
    result = manage("check")
    assert result.returncode == 2
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_generates_a_development_secret_key():
    result = manage("check", DEBUG="true")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        (
            "DATABASE_URL",
            "mysql://root@localhost/db",
            "DATABASE_URL='mysql://root@localhost/db' is not supported",
        ),
        ("DATABASE_URL", "nonsense", "DATABASE_URL='nonsense' is not supported"),
        ("SITE_URL", "ftp://example.com", "SITE_URL='ftp://example.com' must be an http(s) URL"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT='xml' must be text or json"),
        (
            "SCHEDULER_LEASE_SECONDS",
            "soon",
            "SCHEDULER_LEASE_SECONDS='soon' is not a valid integer",
        ),
        ("SCHEDULER_LEASE_SECONDS", "1", "SCHEDULER_LEASE_SECONDS=1 must be at least 5"),
    ],
)
def test_a_malformed_value_fails_naming_the_variable(variable, value, message):
    result = manage("check", SECRET_KEY="x" * 50, **{variable: value})
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_json_logging_writes_one_json_object_per_line():
    code = (
        "import logging, django; django.setup(); "
        "logging.getLogger('cronicorn').warning('hello %s', 'world')"
    )
    environment = {
        **os.environ,
        "LOG_FORMAT": "json",
        "DJANGO_SETTINGS_MODULE": "cronicorn.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    import json

    entry = json.loads(result.stdout.strip().splitlines()[-1])
    assert entry["message"] == "hello world"
    assert entry["level"] == "WARNING"


def test_sqlite_is_the_default_database_in_a_local_data_folder(settings):
    if os.environ.get("DATABASE_URL"):
        pytest.skip("DATABASE_URL is set for this run")
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_the_default_sqlite_database_is_created_where_no_data_folder_exists_yet(tmp_path):
    """A fresh clone has no data/ folder: `make run` migrates into it all the same."""
    data_dir = tmp_path / "fresh" / "data"
    result = manage("migrate", "--noinput", DEBUG="true", CRONICORN_DATA_DIR=str(data_dir))
    assert result.returncode == 0, result.stderr
    assert (data_dir / "cronicorn.sqlite3").is_file()

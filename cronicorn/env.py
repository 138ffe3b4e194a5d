"""Reading settings from the environment, failing loudly on malformed values.

django-environ raises a bare ValueError for `PORT=abc`; every reader here re-raises it as
ImproperlyConfigured naming the variable, so a bad deploy says what to fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

_NOT_SET = environ.Env.NOTSET


def _read(reader: Callable[..., Any], name: str, default: Any, kind: str) -> Any:
    try:
        return reader(name, default=default)
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"{name}={env.str(name)!r} is not a valid {kind} ({exc})"
        ) from None


def env_str(name: str, default: Any = _NOT_SET) -> str:
    return _read(env.str, name, default, "string")


def env_bool(name: str, default: Any = _NOT_SET) -> bool:
    raw = env.str(name, default="")
    if raw and raw.strip().lower() not in {
        *env.BOOLEAN_TRUE_STRINGS,
        "false",
        "off",
        "no",
        "0",
        "n",
        "f",
    }:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false)")
    return _read(env.bool, name, default, "boolean")


def env_int(name: str, default: Any = _NOT_SET, minimum: int | None = None) -> int:
    value = _read(env.int, name, default, "integer")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_float(name: str, default: Any = _NOT_SET, minimum: float | None = None) -> float:
    value = _read(env.float, name, default, "number")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_list(name: str, default: Any = _NOT_SET) -> list[str]:
    return [item.strip() for item in _read(env.list, name, default, "list") if item.strip()]


def env_db(name: str, default: str) -> dict[str, Any]:
    url = env_str(name, default)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql", "psql"}:
        raise ImproperlyConfigured(
            f"{name}={url!r} is not supported: use postgres://USER@HOST:PORT/DB or sqlite:///PATH"
        )
    try:
        return environ.Env.db_url_config(url)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{name}={url!r} is malformed ({exc})") from None


def env_url(name: str, default: str) -> str:
    url = env_str(name, default).rstrip("/")
    if (
        not url.startswith(("http://", "https://"))
        or "://" not in url
        or not url.split("://", 1)[1]
    ):
        raise ImproperlyConfigured(
            f"{name}={url!r} must be an http(s) URL, like http://127.0.0.1:8000"
        )
    return url

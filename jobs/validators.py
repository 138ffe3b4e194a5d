"""Field rules shared by the models, the admin forms and the API serializers."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from jobs.scheduling.cron import CronError, get_zone, validate_cron

# RFC 7230 token characters; a header name outside them would be rejected by any HTTP client.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Headers the scheduler sets itself; letting a user override them would break idempotency.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "idempotency-key",
        "x-cronicorn-scheduled-for",
        "x-cronicorn-attempt",
        "x-cronicorn-signature",
    }
)
MAX_HEADERS = 50

http_url = URLValidator(schemes=["http", "https"], message="Enter an http:// or https:// URL.")


def validate_cron_expression(value: str) -> None:
    try:
        validate_cron(value)
    except CronError as exc:
        raise ValidationError(str(exc), code="invalid_cron") from None


def validate_timezone(value: str) -> None:
    try:
        get_zone(value)
    except CronError as exc:
        raise ValidationError(str(exc), code="invalid_timezone") from None


def validate_headers(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError('Headers must be an object like {"Authorization": "Bearer ..."}.')
    if len(value) > MAX_HEADERS:
        raise ValidationError(f"At most {MAX_HEADERS} headers.")
    for name, header_value in value.items():
        if not _HEADER_NAME.match(name):
            raise ValidationError(f"{name!r} is not a valid header name.")
        if name.lower() in RESERVED_HEADERS:
            raise ValidationError(
                f"The header {name!r} is set by Cronicorn and cannot be overridden."
            )
        if not isinstance(header_value, str):
            raise ValidationError(f"The value of header {name!r} must be a string.")
        if "\r" in header_value or "\n" in header_value or "\x00" in header_value:
            raise ValidationError(f"The value of header {name!r} must not contain line breaks.")


def validate_status_codes(value: Any) -> None:
    if not isinstance(value, list) or not all(
        isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599
        for code in value
    ):
        raise ValidationError("Expected status codes must be a list of HTTP codes (100-599).")

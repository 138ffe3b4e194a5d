"""The targets synthetic jobs call: each one exercises a path a real job takes (GET, POST with a
body, a slow answer, an answer that fails on purpose) so that their runs prove the whole loop."""

from __future__ import annotations

import json
import random
import time

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST


def _bad_request(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "time": timezone.now().isoformat()})


# The scheduler posts without a session or CSRF token, like any webhook caller.
@csrf_exempt
@require_POST
def echo(request: HttpRequest) -> JsonResponse:
    try:
        body = json.loads(request.body or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _bad_request(f"The body is not valid JSON: {exc}")
    return JsonResponse(body, safe=False)


@require_GET
def slow(request: HttpRequest) -> JsonResponse:
    cap = settings.SYNTHETIC_SLOW_MAX_MS
    raw = request.GET.get("ms", "")
    try:
        ms = int(raw)
    except ValueError:
        return _bad_request(f"ms={raw!r} must be a whole number of milliseconds.")
    if not 0 <= ms <= cap:
        return _bad_request(f"ms={ms} must be between 0 and {cap} (SYNTHETIC_SLOW_MAX_MS).")
    time.sleep(ms / 1000)
    return JsonResponse({"status": "ok", "slept_ms": ms})


@require_GET
def flaky(request: HttpRequest) -> JsonResponse:
    raw_rate = request.GET.get("failure_rate", "")
    try:
        rate = float(raw_rate)
    except ValueError:
        return _bad_request(f"failure_rate={raw_rate!r} must be a number between 0 and 1.")
    if not 0 <= rate <= 1:
        return _bad_request(f"failure_rate={rate} must be between 0 and 1.")
    raw_seed = request.GET.get("seed")
    if raw_seed is None:
        draw = random.random()
    else:
        try:
            draw = random.Random(int(raw_seed)).random()
        except ValueError:
            return _bad_request(f"seed={raw_seed!r} must be a whole number.")
    if draw < rate:
        failed = JsonResponse({"status": "failed on purpose", "failure_rate": rate}, status=500)
        # An intended failure is not a server error: keep it out of django.request's ERROR log
        # (Django skips responses it marks as already logged).
        failed._has_been_logged = True  # type: ignore[attr-defined]
        return failed
    return JsonResponse({"status": "ok", "failure_rate": rate})

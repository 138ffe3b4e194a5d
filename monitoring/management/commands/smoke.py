"""`manage.py smoke`: the post-deploy check. Exit 0 only if every check passes."""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitoring.durations import parse_duration
from monitoring.smoke import render, run_smoke


class Command(BaseCommand):
    help = (
        "Check the database and migrations, GET /api/health and /api/synthetic/health, a live "
        "scheduler and recent runs. Exit 0 all pass, 1 a check fails, 2 bad input."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--base-url", help="The app's base URL (default: SITE_URL).")
        parser.add_argument(
            "--max-run-age", default="5m", help="The newest run must be younger: 90s, 5m, 1h."
        )
        parser.add_argument(
            "--timeout", default="5", help="Seconds each HTTP call may take (default 5)."
        )

    def handle(self, *args, **options) -> None:
        base_url = options["base_url"] or settings.SITE_URL
        if not base_url.startswith(("http://", "https://")):
            raise CommandError(f"--base-url {base_url!r} must be an http(s) URL", returncode=2)
        try:
            max_run_age = parse_duration(options["max_run_age"], "--max-run-age")
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from None
        try:
            timeout = float(options["timeout"])
        except ValueError:
            timeout = 0
        if not 0 < timeout <= 120:
            raise CommandError(
                f"--timeout {options['timeout']!r} must be a number of seconds above 0 and at most 120",
                returncode=2,
            )
        results = run_smoke(base_url, max_run_age, timeout)
        self.stdout.write(render(results))
        if not all(result.ok for result in results):
            sys.exit(1)

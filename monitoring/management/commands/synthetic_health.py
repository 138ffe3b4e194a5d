"""`manage.py synthetic_health`: judge the synthetic jobs over a window; exit 0, 1 or 2."""

from __future__ import annotations

import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from monitoring.alerts import AlertError, notify_on_change
from monitoring.durations import parse_duration
from monitoring.stats import synthetic_report
from monitoring.synthetic_health import EXIT_HEALTHY, exit_code, render_table


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:
        raise CommandError(
            f"--min-success {text!r} must be a percentage between 0 and 100", returncode=2
        )
    return value / 100


class Command(BaseCommand):
    help = (
        "Judge every active synthetic endpoint over a window (success rate, staleness, lateness). "
        "Exit 0 healthy, 1 unhealthy, 2 no data or bad input."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--window", default="1h", help="How far back to look: 30m, 1h, 7d.")
        parser.add_argument(
            "--min-success", default="90", help="Required success rate in percent (default 90)."
        )
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
        parser.add_argument(
            "--alert-webhook",
            default=None,
            help="Slack-compatible webhook to post to on failure and on recovery "
            "(default: the ALERT_WEBHOOK_URL setting).",
        )

    def handle(self, *args, **options) -> None:
        try:
            window = parse_duration(options["window"], "--window")
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from None
        min_success = _percent(options["min_success"])
        webhook = options["alert_webhook"] or settings.ALERT_WEBHOOK_URL
        if webhook and not webhook.startswith(("http://", "https://")):
            raise CommandError(f"--alert-webhook {webhook!r} must be an http(s) URL", returncode=2)

        now = timezone.now()
        try:
            report = synthetic_report(window, now, min_success)
        except DatabaseError as exc:
            raise CommandError(f"database unavailable: {exc}".strip(), returncode=2) from None
        code = exit_code(report)
        if options["json"]:
            self.stdout.write(json.dumps({**report.to_dict(), "exit_code": code}, indent=2))
        else:
            self.stdout.write(render_table(report))
        if webhook:
            try:
                sent = notify_on_change(
                    "synthetic_health", code != EXIT_HEALTHY, report.problems, webhook, now
                )
            except (AlertError, DatabaseError) as exc:
                self.stderr.write(str(exc))
            else:
                if sent:
                    self.stderr.write(f"alert sent: {sent}")
        if code != EXIT_HEALTHY:
            sys.exit(code)

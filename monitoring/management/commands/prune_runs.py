"""`manage.py prune_runs`: roll up settled hours, then delete raw runs past retention and
rollups past theirs, in batches; exit 0 done, 2 bad input or no database."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from monitoring.durations import parse_duration
from monitoring.pruning import plan_prune, prune


class Command(BaseCommand):
    help = (
        "Roll up every settled hour of runs, then delete raw runs older than --older-than and "
        "hourly rollups older than ROLLUP_RETENTION_DAYS, in small batches (safe while the "
        "scheduler runs). Exit 0 done, 2 bad input or no database."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--older-than",
            default=f"{settings.RUNS_RETENTION_DAYS}d",
            help="Delete raw runs started before this long ago, whole hours "
            "(default: RUNS_RETENTION_DAYS, also the shortest allowed).",
        )
        parser.add_argument(
            "--batch-size", type=int, default=10_000, help="Rows deleted per transaction."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be deleted; change nothing."
        )

    def handle(self, *args, **options) -> None:
        now = timezone.now()
        try:
            older_than = parse_duration(options["older_than"], "--older-than")
            if options["dry_run"]:
                self.stdout.write(plan_prune(now, older_than).describe(done=False))
                return
            done = prune(now, older_than, options["batch_size"], self.stdout.write)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from None
        except DatabaseError as exc:
            raise CommandError(f"database unavailable: {exc}".strip(), returncode=2) from None
        self.stdout.write(done.describe(done=True))

"""`manage.py seed_synthetic`: create or update the synthetic jobs (idempotent)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from synthetic.seeding import seed_synthetic_jobs


class Command(BaseCommand):
    help = "Create or update, in place, one synthetic job per synthetic target on SITE_URL."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--site-url", help="Base URL the synthetic jobs call (default: the SITE_URL setting)."
        )

    def handle(self, *args, site_url: str | None = None, **options) -> None:
        try:
            summary = seed_synthetic_jobs(site_url)
        except ValidationError as exc:
            raise CommandError(f"Cannot seed synthetic jobs: {exc}", returncode=2) from None
        self.stdout.write(str(summary))

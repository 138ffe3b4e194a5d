"""createapikey USERNAME [--name NAME]: make an API key for a user and print it, once."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from jobs.models import ApiKey

NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length


def issue_key(username: str, name: str) -> tuple[ApiKey, str]:
    """A new key for `username`: the stored row (hash only) and the key itself, never stored."""
    if not name.strip() or len(name) > NAME_MAX_LENGTH:
        raise ValueError(f"The key name must be 1 to {NAME_MAX_LENGTH} characters.")
    try:
        owner = get_user_model().objects.get_by_natural_key(username)
    except get_user_model().DoesNotExist:
        raise ValueError(f"No user named {username!r}.") from None
    return ApiKey.objects.create_key(name=name.strip(), owner=owner)


class Command(BaseCommand):
    help = "Create an API key for a user and print it (it is shown only this once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="A label to tell keys apart.")

    def handle(self, *args, username: str, name: str, **options) -> None:
        try:
            api_key, key = issue_key(username, name)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from None
        self.stderr.write(
            f"Created API key {api_key.name!r} ({api_key.prefix}) for {username}. "
            "Store it now: it is not shown again."
        )
        self.stdout.write(key)

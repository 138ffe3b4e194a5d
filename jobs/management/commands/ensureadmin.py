"""Create the first admin user when there is none, and print how to log in (used by make run)."""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an 'admin' superuser if no superuser exists, and print how to log in."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        password_file = settings.DATA_DIR / "admin-password"
        login_url = f"{settings.SITE_URL}/admin/"
        if not User.objects.filter(is_superuser=True).exists():
            password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", "", password)
            settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            self.stdout.write(
                f"Created the superuser 'admin'. Log in at {login_url} as admin / {password}"
            )
        elif password_file.exists():
            password = password_file.read_text().strip()
            self.stdout.write(f"Log in at {login_url} as admin / {password}")
        else:
            self.stdout.write(
                f"Log in at {login_url} with your superuser "
                "(forgot the password? python manage.py changepassword USERNAME)"
            )

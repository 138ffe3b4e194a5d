"""Slack-compatible webhook alerts, sent once when a check starts failing and once when it
recovers, never on every run: the last state seen is kept in the database (AlertState)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests
from django.conf import settings

from monitoring.models import AlertState

WEBHOOK_TIMEOUT_SECONDS = 10


class AlertError(Exception):
    """The webhook could not be reached or refused the message."""


def post_webhook(url: str, payload: dict[str, Any]) -> None:
    try:
        response = requests.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_SECONDS)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise AlertError(f"alert webhook {url} failed: {exc}") from None


def slack_message(check: str, failing: bool, problems: list[str]) -> dict[str, Any]:
    """{"text": ...}: what Slack, Mattermost, Rocket.Chat and most chat webhooks accept."""
    if failing:
        lines = [f":rotating_light: Cronicorn {check} is FAILING on {settings.SITE_URL}"]
        lines += [f"• {problem}" for problem in problems]
    else:
        lines = [f":white_check_mark: Cronicorn {check} has recovered on {settings.SITE_URL}"]
    return {"text": "\n".join(lines)}


def notify_on_change(
    check: str, failing: bool, problems: list[str], url: str, now: datetime
) -> str | None:
    """Post to `url` when `failing` differs from the state last recorded for `check`.

    Returns "failure", "recovery" or None (nothing changed). The new state is recorded only after
    the webhook accepted the message, so a failed post is tried again on the next run. No lock is
    held during the HTTP call (on SQLite it would stall the scheduler's writes).
    """
    state, _ = AlertState.objects.get_or_create(name=check)
    if state.failing == failing:
        return None
    message = slack_message(check, failing, problems)
    post_webhook(url, message)
    # Guarded by the old state: if a concurrent run recorded the change first, leave its row.
    AlertState.objects.filter(pk=state.pk, failing=state.failing).update(
        failing=failing, changed_at=now, last_message=message["text"]
    )
    return "failure" if failing else "recovery"

"""manage.py createapikey USERNAME [--name NAME]: prints a working key once; bad input exits 2."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from jobs.models import ApiKey

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("createapikey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_prints_a_key_that_authenticates_as_the_user(alice, client):
    out, err = run("alice", "--name", "deploy bot")
    key = out.strip()
    api_key = ApiKey.objects.get(owner=alice)
    assert api_key.name == "deploy bot"
    assert ApiKey.objects.get_from_key(key) == api_key
    # Only the hash is stored; the note on stderr never repeats the key.
    assert key not in api_key.hashed_key and key not in err
    assert "not shown again" in err
    assert client.get("/api/jobs/", HTTP_X_API_KEY=key).status_code == 200


def test_an_unknown_user_exits_2_with_one_line(db):
    with pytest.raises(CommandError) as raised:
        run("nobody")
    assert raised.value.returncode == 2
    assert str(raised.value) == "No user named 'nobody'."
    assert not ApiKey.objects.exists()


def test_an_overlong_name_exits_2(alice):
    with pytest.raises(CommandError) as raised:
        run("alice", "--name", "x" * 51)
    assert raised.value.returncode == 2
    assert "1 to 50 characters" in str(raised.value)

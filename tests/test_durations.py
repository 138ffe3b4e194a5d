"""Durations on the command line and in query strings: 90s, 30m, 1h, 7d, and nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("7D", timedelta(days=7)),
        (" 2 h ", timedelta(hours=2)),
    ],
)
def test_it_reads_a_number_and_a_unit(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "h", "0m", "-5m", "1.5h", "1w", "1h30m", "soon"])
def test_it_refuses_anything_else_naming_the_option(text):
    with pytest.raises(ValueError, match=r"^--window .* is not a duration"):
        parse_duration(text, "--window")


def test_it_refuses_absurd_lengths():
    with pytest.raises(ValueError, match="too long"):
        parse_duration("999999999d", "--window")

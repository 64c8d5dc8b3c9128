"""Durations: units required, combinations largest first, round trips."""

import pytest

from sqfast.durations import format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("30m", 1_800), ("8h", 28_800), ("2d", 172_800), ("1h30m", 5_400),
    ("1d2h3m4s", 93_784), (" 45m ", 2_700), ("0h5m", 300),
])
def test_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "why"), [
    ("30", "a number needs a unit"),
    ("", "it is empty"),
    ("30M", "units are lower-case"),
    ("1h 30m", "without spaces"),
    ("30m1h", "each unit once, largest first"),
    ("1.5h", "whole numbers with units"),
    ("-5m", "whole numbers with units"),
    ("0s", "is zero"),
    ("forever", "whole numbers with units"),
])
def test_malformed(text, why):
    with pytest.raises(ValueError, match=why):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [1, 59, 60, 90, 3_600, 5_400, 86_400, 93_784, 10 * 86_400])
def test_format_round_trips(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_is_shortest():
    assert format_duration(5_400) == "1h30m"
    assert format_duration(86_400) == "1d"

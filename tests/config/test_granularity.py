"""Granularities, and which data sources serve them (notes/venues.md)."""

import pytest

from sqfast.granularity import DATA_SOURCES, GRANULARITIES, parse_granularity, serves, sources_serving

NAMES = ["1s", "5s", "10s", "15s", "30s", "1m", "2m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"]


def test_exactly_the_sixteen_granularities_finest_first():
    assert [g.name for g in GRANULARITIES] == NAMES
    seconds = [g.seconds for g in GRANULARITIES]
    assert seconds == sorted(seconds) and seconds[0] == 1 and seconds[-1] == 86_400


@pytest.mark.parametrize("name", NAMES)
def test_parse_each(name):
    granularity = parse_granularity(name)
    assert granularity.name == name == str(granularity)


@pytest.mark.parametrize(("text", "hint"), [("7m", None), ("60s", "'1m'"), ("1H", "'1h'"), ("1min", "'1m'"),
                                            ("24h", "'1d'"), ("", None)])
def test_unknown_lists_the_valid_ones(text, hint):
    with pytest.raises(ValueError, match="expected one of 1s, 5s") as caught:
        parse_granularity(text)
    if hint:
        assert f"as {hint}" in str(caught.value)


def test_sources():
    every = set(GRANULARITIES)
    assert set(DATA_SOURCES["demo"].granularities) == every
    assert set(DATA_SOURCES["polygon"].granularities) == every
    assert [g.name for g in DATA_SOURCES["alpaca"].granularities] == NAMES[NAMES.index("1m"):]
    coarse = ["1h", "2h", "4h", "6h", "12h", "1d"]
    assert [g.name for g in DATA_SOURCES["coinmarketcap"].granularities] == coarse
    assert not serves("alpaca", parse_granularity("30s"))
    assert sources_serving(parse_granularity("1s")) == ("demo", "polygon")
    assert sources_serving(parse_granularity("1d")) == ("demo", "polygon", "alpaca", "coinmarketcap")


def test_divides():
    one_minute, five, two = (parse_granularity(n) for n in ("1m", "5m", "2m"))
    assert one_minute.divides(five) and one_minute.divides(one_minute)
    assert not five.divides(one_minute) and not two.divides(five)
    assert all(g.divides(parse_granularity("1d")) for g in GRANULARITIES)

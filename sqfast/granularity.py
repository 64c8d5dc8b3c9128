"""Bar granularities and the data sources that serve each.

A run has one feed granularity; a strategy may run on a coarser one whose bars are aggregated
from the feed's, so its granularity must be a whole multiple of the feed's.

Which sources serve which granularity (see notes/venues.md):
- `demo`: all; seeded synthetic bars at any granularity.
- `polygon` (Massive, formerly Polygon.io): all; per-second aggregates (`A`, crypto `XAS`) make
  1s and are summed into 5s-30s, per-minute aggregates (`AM`, crypto `XA`) make 1m and coarser.
- `alpaca`: 1m and coarser; its market-data stream carries minute bars only.
- `coinmarketcap`: 1h and coarser; a polled REST source whose OHLCV history is hourly or daily
  and whose quotes refresh only about once a minute (snapshots, not OHLC bars).
"""

from dataclasses import dataclass

from .durations import parse_duration
from .types import GRANULARITY_SECONDS


@dataclass(frozen=True)
class Granularity:
    """A bar length: its name as written in configs and on the command line, and its seconds."""

    name: str
    seconds: int

    def __str__(self) -> str:
        return self.name

    def divides(self, other: "Granularity") -> bool:
        """Whether bars of `other` can be aggregated from bars of this granularity."""
        return other.seconds >= self.seconds and other.seconds % self.seconds == 0


GRANULARITIES: tuple[Granularity, ...] = tuple(
    sorted((Granularity(name, seconds) for name, seconds in GRANULARITY_SECONDS.items()),
           key=lambda granularity: granularity.seconds)
)
"""The granularities of `sqfast.types.GRANULARITY_SECONDS`, finest first."""
_BY_NAME = {g.name: g for g in GRANULARITIES}
_BY_SECONDS = {g.seconds: g for g in GRANULARITIES}


def _from(first: str) -> tuple[Granularity, ...]:
    return tuple(g for g in GRANULARITIES if g.seconds >= _BY_NAME[first].seconds)


@dataclass(frozen=True)
class DataSource:
    """A market-data source: the granularities it can serve and why those."""

    name: str
    granularities: tuple[Granularity, ...]
    note: str


DATA_SOURCES: dict[str, DataSource] = {
    source.name: source for source in (
        DataSource("demo", GRANULARITIES, "seeded synthetic bars at any granularity"),
        DataSource("polygon", GRANULARITIES,
                   "per-second aggregates for 1s-30s, per-minute aggregates for 1m and coarser"),
        DataSource("alpaca", _from("1m"), "its stream has minute bars only"),
        DataSource("coinmarketcap", _from("1h"),
                   "polled REST: hourly or daily OHLCV, quotes refresh about once a minute"),
    )
}
SOURCE_ALIASES = {"massive": "polygon"}


def parse_granularity(text: str) -> Granularity:
    """The granularity named `text` (`1s` ... `1d`); ValueError listing the valid names if unknown."""
    found = _BY_NAME.get(text.strip()) if isinstance(text, str) else None
    if found is not None:
        return found
    raise ValueError(f"unknown granularity {text!r}; expected one of {names()}"
                     + _equivalent_hint(text))


def names() -> str:
    """The valid granularity names, finest first, for messages."""
    return ", ".join(g.name for g in GRANULARITIES)


def serves(source: str, granularity: Granularity) -> bool:
    """Whether data source `source` (a canonical name) can serve bars of `granularity`."""
    return granularity in DATA_SOURCES[source].granularities


def sources_serving(granularity: Granularity) -> tuple[str, ...]:
    """The data sources that can serve `granularity`, for `sqfast granularities`."""
    return tuple(name for name, source in DATA_SOURCES.items() if granularity in source.granularities)


def _equivalent_hint(text: object) -> str:
    """` (write 60s as 1m)` when `text` is a spelling of a valid granularity."""
    if not isinstance(text, str):
        return ""
    try:
        seconds = parse_duration(text.strip().lower().replace("min", "m").replace("sec", "s"))
    except ValueError:
        return ""
    equivalent = _BY_SECONDS.get(seconds)
    return f"; write {text!r} as {equivalent.name!r}" if equivalent else ""

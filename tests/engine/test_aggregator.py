"""Coarse bars from feed bars equal pandas' resample of the same bars."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqfast.aggregator import BarAggregator
from sqfast.assembler import BarAssembler
from sqfast.types import NS_PER_SECOND, BarBatch

DAY0 = 1_699_920_000  # 2023-11-14 00:00 UTC
PAIRS = [(1, 1), (1, 5), (1, 60), (5, 15), (10, 30), (60, 300), (60, 3_600), (300, 900), (3_600, 86_400)]


def feed_bars(rng: np.random.Generator, n_symbols: int, feed_s: int, n_intervals: int,
              offset: int) -> BarBatch:
    """Sparse feed bars: each symbol has its own chance of a bar per interval (of three or more
    symbols, one never trades)."""
    chance = rng.uniform(0.05, 1.0, n_symbols)
    if n_symbols > 2:
        chance[-1] = 0.0
    k, s = np.nonzero(rng.random((n_intervals, n_symbols)) < chance)
    n = len(k)
    o, c = rng.uniform(10, 20, n), rng.uniform(10, 20, n)
    high, low = np.maximum(o, c) + rng.uniform(0, 1, n), np.minimum(o, c) - rng.uniform(0, 1, n)
    volume = rng.integers(0, 1_000, n).astype(float)
    return BarBatch((DAY0 + (offset + k) * feed_s) * NS_PER_SECOND, s, o, high, low, c, volume)


def resampled(bars: BarBatch, target_s: int) -> BarBatch:
    """The oracle: pandas' resample per symbol, bins from the epoch, empty bins dropped."""
    frame = pd.DataFrame(bars.columns())
    frame.index = pd.to_datetime(frame.ts, unit="ns", utc=True)
    parts = []
    for sym, rows in frame.groupby("sym"):
        agg = rows.resample(f"{target_s}s", origin="epoch", label="left", closed="left").agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum", "ts": "count"})
        agg = agg[agg.ts > 0]
        agg = agg.drop(columns="ts").assign(sym=sym, ts=agg.index.as_unit("ns").asi8)
        parts.append(agg[["ts", "sym", "open", "high", "low", "close", "volume"]])
    whole = pd.concat(parts)
    return BarBatch(*(whole[c].to_numpy() for c in whole.columns)).sorted()


def aggregate(bars: BarBatch, n_symbols: int, feed_s: int, target_s: int) -> list[BarBatch]:
    """Feed one closed interval at a time, as the assembler delivers them."""
    aggregator = BarAggregator(n_symbols, feed_s, target_s)
    out = []
    for t in np.unique(bars.ts):
        out += aggregator.add(bars.take(bars.ts == t))
    return out + aggregator.flush()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(PAIRS), st.integers(0, 2**32), st.integers(1, 6), st.integers(1, 80),
       st.integers(0, 50))
def test_aggregation_equals_a_pandas_resample(pair, seed, n_symbols, n_intervals, offset):
    feed_s, target_s = pair
    bars = feed_bars(np.random.default_rng(seed), n_symbols, feed_s, n_intervals, offset)
    got = aggregate(bars, n_symbols, feed_s, target_s)
    for coarse in got:
        assert (coarse.ts == coarse.ts[0]).all() and coarse.ts[0] % (target_s * NS_PER_SECOND) == 0
    assert [int(c.ts[0]) for c in got] == sorted({int(c.ts[0]) for c in got})
    if len(bars):
        assert BarBatch.concat(got) == resampled(bars, target_s)
    else:
        assert got == []


def test_a_coarse_bar_is_emitted_when_its_last_feed_interval_closes():
    minute = 60 * NS_PER_SECOND
    start = DAY0 * NS_PER_SECOND
    aggregator = BarAggregator(2, 60, 300)

    def one(k: int, sym: int) -> BarBatch:
        return BarBatch([start + k * minute], [sym], [1.0], [2.0], [0.5], [1.5], [10.0])

    for k in range(4):
        assert aggregator.add(one(k, 0)) == []
    [coarse] = aggregator.add(one(4, 1))  # 10:04 closes, completing 10:00-10:05
    assert int(coarse.ts[0]) == start and list(coarse.sym) == [0, 1]
    assert list(coarse.volume) == [40.0, 10.0]


def test_a_sparse_last_feed_interval_is_completed_by_the_assemblers_clock():
    minute = 60 * NS_PER_SECOND
    start = DAY0 * NS_PER_SECOND
    aggregator = BarAggregator(1, 60, 300)
    assembler = BarAssembler(1, 60)
    bars = BarBatch([start + minute], [0], [1.0], [2.0], [0.5], [1.5], [10.0])
    for closed in assembler.add(bars, start + 2 * minute):
        assert aggregator.add(closed) == []
    assert assembler.flush(start + 4 * minute) == []
    assert aggregator.advance(assembler.closed_until) == []  # 10:04 not closed yet
    assembler.flush(start + 5 * minute)
    [coarse] = aggregator.advance(assembler.closed_until)
    assert int(coarse.ts[0]) == start and list(coarse.close) == [1.5]


def test_the_target_must_be_a_multiple_of_the_feed():
    with pytest.raises(ValueError, match="whole multiple"):
        BarAggregator(1, 60, 90)
    with pytest.raises(ValueError, match="whole multiple"):
        BarAggregator(1, 60, 30)

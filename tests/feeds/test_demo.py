"""The demo feed: reproducible, valid, sparse at 1 second, and history equal to the stream."""

import asyncio
import time

import numpy as np
import pytest

from sqfast.adapters.demo import DemoFeed
from sqfast.adapters.demo_bars import BLOCK, DemoBars
from sqfast.errors import SqfastError
from sqfast.protocols import Feed, HistorySource
from sqfast.types import GRANULARITY_SECONDS, NS_PER_SECOND, BarBatch

SYMBOLS = [f"SYM{i:03d}" for i in range(200)]
START = 1_735_741_800 * NS_PER_SECOND  # 2025-01-01 14:30 UTC, mid-session


def collect(feed: DemoFeed, symbols: list[str], seconds: int) -> list[BarBatch]:
    async def run():
        return [batch async for batch in feed.stream(symbols, seconds)]

    return asyncio.run(run())


def history(feed: DemoFeed, symbols: list[str], seconds: int, start_ns: int, end_ns: int) -> BarBatch:
    return asyncio.run(feed.history(symbols, seconds, start_ns, end_ns))


def assert_valid(bars: BarBatch, seconds: int, n_symbols: int) -> None:
    assert len(bars)
    assert (bars.ts % (seconds * NS_PER_SECOND) == 0).all()
    assert ((bars.sym >= 0) & (bars.sym < n_symbols)).all()
    fields = np.stack([bars.open, bars.high, bars.low, bars.close, bars.volume])
    assert np.isfinite(fields).all()
    assert (bars.high >= np.maximum(bars.open, bars.close)).all()
    assert (bars.low <= np.minimum(bars.open, bars.close)).all()
    assert (bars.low > 0).all()
    assert (bars.volume >= 0).all()
    order = np.lexsort((bars.sym, bars.ts))
    assert (order == np.arange(len(bars))).all(), "bars come sorted by (ts, sym)"
    key = bars.ts * n_symbols + bars.sym
    assert len(np.unique(key)) == len(bars), "one bar per (symbol, interval)"


def test_demo_feed_implements_the_feed_and_history_contracts():
    feed = DemoFeed()
    assert isinstance(feed, Feed) and isinstance(feed, HistorySource)
    assert feed.granularities == frozenset(GRANULARITY_SECONDS.values())


@pytest.mark.parametrize("name", list(GRANULARITY_SECONDS))
def test_every_bar_is_valid_and_aligned_at_every_granularity(name):
    seconds = GRANULARITY_SECONDS[name]
    feed = DemoFeed(seed=3, speed="max", start_ns=START + 100 * seconds * NS_PER_SECOND)
    bars = history(feed, SYMBOLS, seconds, START, START + 100 * seconds * NS_PER_SECOND)
    assert_valid(bars, seconds, len(SYMBOLS))


@pytest.mark.parametrize("seconds", [1, 60, 3_600, 86_400])
def test_history_equals_what_the_stream_produced(seconds):
    step = seconds * NS_PER_SECOND
    start = START + 7 * step  # not on a block boundary, and the run crosses two
    n = 2 * BLOCK + 5
    streamed = collect(DemoFeed(seed=11, speed="max", start_ns=start, duration_ns=n * step), SYMBOLS, seconds)
    assert len(streamed) == n
    later = DemoFeed(seed=11, speed="max", start_ns=start + 10 * n * step)
    assert history(later, SYMBOLS, seconds, start, start + n * step) == BarBatch.concat(streamed)


def test_a_restarted_stream_sees_the_same_bars():
    step = NS_PER_SECOND
    first = collect(DemoFeed(seed=5, speed="max", start_ns=START, duration_ns=80 * step), SYMBOLS, 1)
    resumed = collect(DemoFeed(seed=5, speed="max", start_ns=START + 50 * step, duration_ns=30 * step),
                      SYMBOLS, 1)
    assert resumed == first[50:]


def test_same_seed_same_bars_and_different_seeds_differ():
    a = DemoBars(SYMBOLS, 60, seed=1).bars(1_000_000, 1_000_040)
    b = DemoBars(SYMBOLS, 60, seed=1).bars(1_000_000, 1_000_040)
    c = DemoBars(SYMBOLS, 60, seed=2).bars(1_000_000, 1_000_040)
    assert a == b
    assert len(a) != len(c) or not np.array_equal(a.close, c.close)
    common = min(len(a), len(c))
    assert not np.allclose(a.close[:common], c.close[:common])


def test_a_symbols_bars_do_not_depend_on_the_rest_of_the_universe():
    alone = DemoBars(["AAPL"], 1, seed=9).bars(1_735_741_800, 1_735_741_900)
    among = DemoBars(["MSFT", "XYZ", "AAPL"], 1, seed=9).bars(1_735_741_800, 1_735_741_900)
    mine = among.take(among.sym == 2)
    assert np.array_equal(alone.ts, mine.ts)
    assert np.array_equal(alone.close, mine.close)
    assert np.array_equal(alone.volume, mine.volume)


def test_one_second_bars_are_sparse_and_minute_bars_nearly_always_present():
    symbols = [f"S{i}" for i in range(1_000)]
    day = 1_735_689_600  # 2025-01-01 00:00 UTC

    def present(seconds: int, at_s: int) -> float:
        bars = DemoBars(symbols, seconds, seed=0)
        first = at_s // seconds
        return len(bars.bars(first, first + 64)) / (64 * len(symbols))

    for at in (day + 3 * 3_600, day + 15 * 3_600):  # overnight, mid-session
        one_second, five_seconds, one_minute = present(1, at), present(5, at), present(60, at)
        assert 0.05 < one_second < 0.9
        assert one_second < five_seconds < one_minute
        assert one_minute > 0.97


def test_the_price_path_is_continuous_across_bars_and_blocks():
    bars = DemoBars(SYMBOLS[:20], 60, seed=4)
    first = 29_000_000
    for s in range(20):
        series = bars.bars(first, first + 3 * BLOCK)
        mine = series.take(series.sym == s)
        adjacent = np.diff(mine.ts) == 60 * NS_PER_SECOND
        np.testing.assert_array_equal(mine.open[1:][adjacent], mine.close[:-1][adjacent])


def test_max_speed_ends_after_the_duration_and_reports_simulated_time():
    step = 60 * NS_PER_SECOND
    feed = DemoFeed(speed="max", start_ns=START, duration_ns=30 * step)
    assert feed.now_ns() == START
    batches = collect(feed, SYMBOLS, 60)
    assert [int(b.ts[0]) for b in batches] == [START + i * step for i in range(30)]
    assert feed.now_ns() == START + 30 * step
    # history never includes an interval the feed's clock has not finished
    assert int(history(feed, SYMBOLS, 60, START, START + 90 * step).ts.max()) == START + 29 * step


def test_max_speed_lets_other_tasks_run_between_intervals():
    async def run():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        feed = DemoFeed(speed="max", start_ns=START, duration_ns=20 * NS_PER_SECOND)
        async for _ in feed.stream(SYMBOLS, 1):
            pass
        task.cancel()
        return ticks

    assert asyncio.run(run()) >= 10


def test_realtime_yields_each_interval_once_its_end_has_passed_on_a_fake_clock():
    clock = {"now": START + 250_000_000}  # a quarter second into an interval
    seen = []

    async def sleep(seconds: float) -> None:
        clock["now"] += max(1, int(seconds * NS_PER_SECOND * 0.6))  # wakes early: the feed must re-check
        await asyncio.sleep(0)

    feed = DemoFeed(speed="realtime", duration_ns=5 * NS_PER_SECOND, clock=lambda: clock["now"], sleep=sleep)

    async def run():
        async for batch in feed.stream(SYMBOLS, 1):
            seen.append((int(batch.ts[0]), clock["now"]))

    asyncio.run(run())
    assert [ts for ts, _ in seen] == [START + i * NS_PER_SECOND for i in range(5)]
    assert all(now >= ts + NS_PER_SECOND for ts, now in seen)


def test_realtime_closes_bars_on_wall_clock_boundaries():
    received = []

    async def run():
        feed = DemoFeed(speed="realtime", duration_ns=2 * NS_PER_SECOND)
        async for batch in feed.stream(SYMBOLS, 1):
            received.append((batch, time.time_ns()))

    asyncio.run(run())
    starts = [int(b.ts[0]) for b, _ in received]
    assert len(starts) == 2 and starts[1] - starts[0] == NS_PER_SECOND
    for batch, at in received:
        assert (batch.ts % NS_PER_SECOND == 0).all()
        assert at >= int(batch.ts[0]) + NS_PER_SECOND


def test_bad_options_are_clear_errors():
    with pytest.raises(SqfastError, match="speed"):
        DemoFeed(speed="fast")
    with pytest.raises(SqfastError, match="7-second"):
        collect(DemoFeed(speed="max", start_ns=START, duration_ns=NS_PER_SECOND), SYMBOLS, 7)

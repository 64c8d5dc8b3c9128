"""The bar assembler: whatever the venue does, the engine sees exactly the clean stream's bars."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqfast.assembler import COUNTERS, INVALID_REASONS, NEVER, BarAssembler
from sqfast.types import NS_PER_SECOND, BarBatch

T0 = 1_699_999_200 * NS_PER_SECOND  # 2023-11-14 22:00 UTC: a multiple of every granularity up to 1h
FIELDS = ("open", "high", "low", "close", "volume")


def bar(ts: int, sym: int, open_: float = 10.0, high: float = 11.0, low: float = 9.0, close: float = 10.5,
        volume: float = 100.0) -> dict:
    return {"ts": ts, "sym": sym, "open": open_, "high": high, "low": low, "close": close, "volume": volume}


def batch(rows: list[dict]) -> BarBatch:
    if not rows:
        return BarBatch.empty()
    return BarBatch(*(np.array([r[f] for r in rows]) for f in ("ts", "sym", *FIELDS)))


def expected(rows: list[dict]) -> list[BarBatch]:
    """The clean rows as the assembler must deliver them: one batch per interval, by symbol."""
    whole = batch(rows).sorted()
    return [whole.take(whole.ts == t) for t in np.unique(whole.ts)]


@st.composite
def clean_stream(draw):
    """(granularity s, grace ns, n symbols, valid bars) with gaps: not every symbol every interval."""
    seconds = draw(st.sampled_from([1, 5, 60]))
    step = seconds * NS_PER_SECOND
    grace = draw(st.sampled_from([1, step // 2, step, 3 * step]))
    n_symbols = draw(st.integers(1, 6))
    n_intervals = draw(st.integers(1, 10))
    cells = n_symbols * n_intervals
    present = draw(st.lists(st.booleans(), min_size=cells, max_size=cells))
    price = st.floats(1.0, 1_000.0)
    rows = []
    for k, here in enumerate(present):
        if here:
            o, c = draw(price), draw(price)
            up, down = draw(st.floats(0.0, 5.0)), draw(st.floats(0.0, 0.9))
            volume = draw(st.sampled_from([0.0, 1.0, 1e6]) | st.floats(0.0, 1e9))
            rows.append(bar(T0 + (k // n_symbols) * step, k % n_symbols, o, max(o, c) + up,
                            min(o, c) * (1 - down), c, volume))
    return seconds, grace, n_symbols, rows


def broken(draw, reason: str, row: dict, n_symbols: int, step: int) -> dict:
    """`row` made invalid for exactly `reason`."""
    row = dict(row)
    if reason == "symbol":
        row["sym"] = draw(st.sampled_from([-1, n_symbols, n_symbols + 7]))
    elif reason == "misaligned":
        row["ts"] += draw(st.integers(1, step - 1))
    elif reason == "nonfinite":
        row[draw(st.sampled_from(FIELDS))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif reason == "volume":
        row["volume"] = -draw(st.floats(1e-9, 1e6))
    elif reason == "high":
        row["high"] = max(row["open"], row["close"]) - draw(st.floats(1e-6, 0.5))
    elif reason == "low":
        row["low"] = min(row["open"], row["close"]) + draw(st.floats(1e-6, 0.5))
    return row


def run(assembler: BarAssembler, events: list[tuple[int, dict]], cuts: list[int]) -> list[BarBatch]:
    """Feed `events` (arrival time, row), sorted by arrival, in batches split at `cuts`; the
    clock at each batch is its last arrival."""
    out = []
    bounds = [0, *sorted(set(cuts)), len(events)]
    for lo, hi in itertools.pairwise(bounds):
        if hi > lo:
            out += assembler.add(batch([row for _, row in events[lo:hi]]), events[hi - 1][0])
    return out + assembler.flush()


def assert_same(got: list[BarBatch], want: list[BarBatch]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g == w


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_shuffled_within_grace_with_duplicates_and_bad_bars_the_output_is_the_clean_stream(data):
    seconds, grace, n_symbols, clean = data.draw(clean_stream())
    step = seconds * NS_PER_SECOND
    draw = data.draw

    def arrival(row: dict) -> int:
        start = row["ts"] - row["ts"] % step
        return start + step + draw(st.integers(0, grace - 1))

    events = [(arrival(r), r) for r in clean]
    n_duplicates = 0
    if clean:
        for row in draw(st.lists(st.sampled_from(clean), max_size=8)):  # a venue's correction, say
            events.append((arrival(row), dict(row, close=row["open"], volume=row["volume"] + 1, dup=True)))
            n_duplicates += 1
    faults = dict.fromkeys(INVALID_REASONS, 0)
    template = bar(T0, 0)
    for reason in draw(st.lists(st.sampled_from(INVALID_REASONS), max_size=10)):
        base = draw(st.sampled_from(clean)) if clean and draw(st.booleans()) else dict(
            template, ts=T0 + draw(st.integers(0, 12)) * step, sym=draw(st.integers(0, n_symbols - 1)))
        row = broken(draw, reason, base, n_symbols, step)
        events.append((T0 + draw(st.integers(0, 15 * step)), row))  # any time, even after a close
        faults[reason] += 1
    tiebreak = draw(st.permutations(range(len(events))))
    events = [events[i] for i in sorted(range(len(events)), key=lambda i: (events[i][0], tiebreak[i]))]
    cuts = draw(st.lists(st.integers(0, len(events)), max_size=len(events)))

    first_copies = {}
    for _, row in events:
        if "dup" in row or row in clean:
            first_copies.setdefault((row["ts"], row["sym"]), row)

    assembler = BarAssembler(n_symbols, seconds, grace)
    assert_same(run(assembler, events, cuts), expected(list(first_copies.values())))
    counters = assembler.counters
    assert counters["accepted"] == len(clean)
    assert counters["duplicate"] == n_duplicates
    assert counters["late"] == counters["out_of_order"] == 0
    assert {r: counters[f"invalid_{r}"] for r in INVALID_REASONS} == faults
    assert counters["received"] == len(events) == sum(counters[c] for c in COUNTERS if c != "received")


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_bars_for_closed_intervals_are_dropped_and_counted_by_what_the_symbol_already_had(data):
    seconds, grace, n_symbols, clean = data.draw(clean_stream())
    step = seconds * NS_PER_SECOND
    assembler = BarAssembler(n_symbols, seconds, grace)
    delivered = assembler.add(batch(clean), T0) + assembler.flush(T0 + 20 * step + grace)
    assert_same(delivered, expected(clean))
    last = assembler.last_ts.copy()
    stale = data.draw(st.lists(st.tuples(st.integers(0, 19), st.integers(0, n_symbols - 1)), max_size=12))
    want = dict.fromkeys(("duplicate", "out_of_order", "late"), 0)
    for k, s in stale:
        ts = T0 + k * step
        want["duplicate" if ts == last[s] else "out_of_order" if ts < last[s] else "late"] += 1
    before = dict(assembler.counters)
    assert assembler.add(batch([bar(T0 + k * step, s) for k, s in stale]), T0 + 21 * step + grace) == []
    assert assembler.flush() == []
    for name, count in want.items():
        assert assembler.counters[name] - before[name] == count
    np.testing.assert_array_equal(assembler.last_ts, last)


def test_a_mixed_batch_with_one_bad_bar_still_delivers_the_good_ones():
    good = [bar(T0, s) for s in (0, 1, 3, 4)]
    bad = bar(T0, 2, high=np.nan)
    assembler = BarAssembler(5, 60)
    out = assembler.add(batch([good[0], good[1], bad, good[2], good[3]]), T0 + 60 * NS_PER_SECOND)
    assert_same(out, expected(good))
    assert assembler.counters["invalid_nonfinite"] == 1 and assembler.counters["accepted"] == 4


def test_an_interval_closes_at_its_end_plus_grace_not_before():
    step, grace = 60 * NS_PER_SECOND, 5 * NS_PER_SECOND
    assembler = BarAssembler(2, 60, grace)
    assert assembler.add(batch([bar(T0, 0)]), T0 + step) == []
    assert assembler.flush(T0 + step + grace - 1) == []
    assert assembler.add(batch([bar(T0, 1)]), T0 + step + grace - 1) == []
    out = assembler.flush(T0 + step + grace)
    assert_same(out, expected([bar(T0, 0), bar(T0, 1)]))
    assert assembler.closed_until == T0 + step
    assert assembler.add(batch([bar(T0, 1, close=10.0)]), T0 + step + grace) == []
    assert assembler.counters["duplicate"] == 1


def test_several_intervals_closing_at_once_come_out_oldest_first():
    step = NS_PER_SECOND
    rows = [bar(T0 + 2 * step, 0), bar(T0, 1), bar(T0 + step, 0), bar(T0, 0)]
    assembler = BarAssembler(2, 1, grace_ns=10 * step)
    assert assembler.add(batch(rows), T0 + step) == []
    out = assembler.flush(T0 + 13 * step)
    assert [int(b.ts[0]) for b in out] == [T0, T0 + step, T0 + 2 * step]
    assert_same(out, expected(rows))
    assert list(assembler.last_ts) == [T0 + 2 * step, T0]


def test_warm_up_history_then_live_bars_older_than_it_are_out_of_order():
    step = 60 * NS_PER_SECOND
    assembler = BarAssembler(2, 60, grace_ns=30 * NS_PER_SECOND)
    history = [bar(T0 + k * step, s) for k in range(5) for s in (0, 1)]
    now = T0 + 5 * step + 40 * NS_PER_SECOND
    assert len(assembler.add(batch(history), now)) == 5  # history closes at once
    live = [bar(T0 + 4 * step, 0), bar(T0 + 3 * step, 1), bar(T0 + 5 * step, 0)]
    assert assembler.add(batch(live), now) == []
    assert (assembler.counters["duplicate"], assembler.counters["out_of_order"]) == (1, 1)
    assert_same(assembler.flush(), expected([live[2]]))


def test_the_last_bar_time_is_read_only_and_starts_at_never():
    assembler = BarAssembler(3, 1)
    assert (assembler.last_ts == NEVER).all()
    with pytest.raises(ValueError):
        assembler.last_ts[0] = 1

"""The bar assembler: between a feed and the engine, it turns whatever the venue delivered into
closed intervals of valid bars, in time order.

Bars are bucketed by interval. An interval closes once the feed's clock has passed its end plus
a grace period (venues delay aggregates on purpose, notes/venues.md 2.1 and 4.9), so bars that
arrive out of order within the grace are put back in order. Every bar is validated first; a bad,
duplicate, out-of-order or late bar is dropped and counted by reason (notes/venues.md 4.8), and
the good bars of the same batch still go through.
"""

import numpy as np

from .types import NS_PER_SECOND, BarBatch

NEVER = np.iinfo(np.int64).min

INVALID_REASONS = ("symbol", "misaligned", "nonfinite", "volume", "high", "low")
"""Why a bar is invalid, in the order checked (a bar is counted under its first reason):
symbol row outside the universe; start not on an interval boundary; a NaN or infinite field;
negative volume; high below max(open, close); low above min(open, close)."""

COUNTERS = ("received", "accepted", "duplicate", "out_of_order", "late",
            *(f"invalid_{reason}" for reason in INVALID_REASONS))
"""`received` = `accepted` + every drop counter. `duplicate`: a (symbol, start) already passed
on as the symbol's last bar or waiting in an open interval (the first copy wins). `out_of_order`:
older than the symbol's last bar passed on. `late`: for an interval already closed."""


class _Bucket:
    """The accepted bars of one open interval: at most one per symbol, marked in `present`."""

    __slots__ = ("count", "parts", "present")

    def __init__(self, n_symbols: int):
        self.present = np.zeros(n_symbols, dtype=np.bool_)
        self.count = 0
        self.parts: list[BarBatch] = []

    def add(self, rows: BarBatch) -> int:
        """Keep the rows whose symbol is not here yet (the first of any repeats); return how
        many were dropped as duplicates."""
        sym = rows.sym
        seen = self.present[sym]
        if seen.any():
            rows = rows.take(~seen)
            sym = rows.sym
        self.present[sym] = True
        added = int(np.count_nonzero(self.present)) - self.count
        if added != len(rows):  # a symbol repeated within the batch: rare, so sort only then
            rows = rows.take(_first_of_each(sym))
        self.count += added
        if added:
            self.parts.append(rows)
        return int(seen.sum()) + len(sym) - added

    def batch(self, scratch: np.ndarray) -> BarBatch:
        """The bars sorted by symbol, ordered through `scratch` (one slot per symbol) rather than
        a sort, as the symbols are unique."""
        whole = BarBatch.concat(self.parts)
        sym = whole.sym
        if len(sym) > 1 and not (sym[1:] > sym[:-1]).all():
            scratch[sym] = np.arange(len(sym))
            whole = whole.take(scratch[np.flatnonzero(self.present)])
        return whole


class BarAssembler:
    """Validates, dedupes and orders bars of one granularity for `n_symbols` symbols.

    `add(batch, now_ns)` takes a feed's batch and the feed's clock, and returns the intervals
    that closed, oldest first: one `BarBatch` per interval that has bars, sorted by `sym`. Within
    each, every bar is valid and newer than the symbol's previous bar passed on. The first batch
    can be warm-up history: its intervals close at once and later bars are checked against it.
    """

    def __init__(self, n_symbols: int, granularity_seconds: int, grace_ns: int = 0):
        if granularity_seconds <= 0 or grace_ns < 0:
            raise ValueError("granularity must be positive and grace non-negative")
        self.n_symbols = n_symbols
        self.step_ns = granularity_seconds * NS_PER_SECOND
        self.grace_ns = grace_ns
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.closed_until = NEVER
        """Every interval starting before this is closed."""
        self._last = np.full(n_symbols, NEVER, dtype=np.int64)
        self._open: dict[int, _Bucket] = {}
        self._scratch = np.empty(n_symbols, dtype=np.int64)

    @property
    def last_ts(self) -> np.ndarray:
        """Per symbol row, the start of its last bar passed on (`NEVER` if none): for last-bar age."""
        view = self._last.view()
        view.flags.writeable = False
        return view

    @property
    def dropped(self) -> int:
        """Bars dropped for any reason."""
        return self.counters["received"] - self.counters["accepted"]

    def add(self, batch: BarBatch, now_ns: int) -> list[BarBatch]:
        """Accept the good bars of `batch`, then close every interval that ended `grace_ns` or more
        before `now_ns`."""
        if len(batch):
            self._accept(batch)
        due = (int(now_ns) - self.grace_ns) // self.step_ns * self.step_ns
        return self._close_until(max(self.closed_until, due))

    def flush(self, now_ns: int | None = None) -> list[BarBatch]:
        """Close what is due at `now_ns`, or with None every open interval (end of stream)."""
        if now_ns is not None:
            return self.add(BarBatch.empty(), now_ns)
        if not self._open:
            return []
        return self._close_until(max(self.closed_until, max(self._open) + self.step_ns))

    def _accept(self, batch: BarBatch) -> None:
        self.counters["received"] += len(batch)
        valid = self._validate(batch)
        if valid is not None:
            batch = batch.take(valid)
        ts, sym = batch.ts, batch.sym
        last = self._last[sym]
        repeat = ts == last
        older = ts < last
        late = (ts < self.closed_until) & ~repeat & ~older
        self.counters["duplicate"] += int(repeat.sum())
        self.counters["out_of_order"] += int(older.sum())
        self.counters["late"] += int(late.sum())
        keep = ~(repeat | older | late)
        if not keep.all():
            batch = batch.take(keep)
        for interval, rows in _by_interval(batch):
            bucket = self._open.get(interval)
            if bucket is None:
                bucket = self._open[interval] = _Bucket(self.n_symbols)
            dropped = bucket.add(rows)
            self.counters["duplicate"] += dropped
            self.counters["accepted"] += len(rows) - dropped

    def _validate(self, batch: BarBatch) -> np.ndarray | None:
        """None if every bar is valid; else the mask of valid bars, with the rest counted."""
        o, h, lo, c, v = batch.open, batch.high, batch.low, batch.close, batch.volume
        checks = (
            (batch.sym < 0) | (batch.sym >= self.n_symbols),
            batch.ts % self.step_ns != 0,
            ~(np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c) & np.isfinite(v)),
            v < 0,
            h < np.maximum(o, c),
            lo > np.minimum(o, c),
        )
        bad = np.logical_or.reduce(checks)
        if not bad.any():
            return None
        valid = ~bad
        for reason, failed in zip(INVALID_REASONS, checks, strict=True):
            self.counters[f"invalid_{reason}"] += int((failed & bad).sum())
            bad &= ~failed
        return valid

    def _close_until(self, closed_until: int) -> list[BarBatch]:
        self.closed_until = closed_until
        due = sorted(t for t in self._open if t < closed_until)
        out = []
        for interval in due:
            batch = self._open.pop(interval).batch(self._scratch)
            self._last[batch.sym] = interval
            out.append(batch)
        return out


def _by_interval(batch: BarBatch):
    """(interval start, its rows), oldest first, rows in arrival order."""
    ts = batch.ts
    if len(ts) == 0:
        return
    if ts[0] == ts[-1] and (ts == ts[0]).all():
        yield int(ts[0]), batch
        return
    order = np.argsort(ts, kind="stable")
    ts_sorted = ts[order]
    cuts = np.flatnonzero(ts_sorted[1:] != ts_sorted[:-1]) + 1
    for rows in np.split(order, cuts):
        yield int(ts[rows[0]]), batch.take(rows)


def _first_of_each(sym: np.ndarray) -> np.ndarray:
    """Mask of each symbol's first row."""
    order = np.argsort(sym, kind="stable")
    ordered = sym[order]
    repeat = np.zeros(len(sym), dtype=np.bool_)
    repeat[1:] = ordered[1:] == ordered[:-1]
    keep = np.ones(len(sym), dtype=np.bool_)
    keep[order[repeat]] = False
    return keep

"""Coarser bars built from the feed's: for a strategy whose granularity is a multiple of the feed's.

A coarse bar over `[C, C + target)` has the open of its symbol's first feed bar in it, the highest
high, the lowest low, the close of the last and the summed volume; its start is `C`, a multiple of
the target length from the epoch (so `1d` bars start at midnight UTC). A symbol with no feed bar
in the interval has no coarse bar. The bar is emitted as soon as every feed interval in it is
closed: when a closed feed interval starting at or after `C + target` arrives, when the
assembler reports (`advance`) that it has closed everything before `C + target`, or at `flush`.
"""

import numpy as np

from .types import NS_PER_SECOND, BarBatch


class BarAggregator:
    """Aggregates closed feed intervals (the assembler's output) for `n_symbols` symbols."""

    def __init__(self, n_symbols: int, feed_seconds: int, target_seconds: int):
        if feed_seconds <= 0 or target_seconds < feed_seconds or target_seconds % feed_seconds:
            raise ValueError(f"{target_seconds}-second bars cannot be built from {feed_seconds}-second bars "
                             "(the target must be a whole multiple of the feed)")
        self.feed_ns = feed_seconds * NS_PER_SECOND
        self.target_ns = target_seconds * NS_PER_SECOND
        self._start: int | None = None
        self._has = np.zeros(n_symbols, dtype=np.bool_)
        self._open = np.zeros(n_symbols)
        self._high = np.full(n_symbols, -np.inf)
        self._low = np.full(n_symbols, np.inf)
        self._close = np.zeros(n_symbols)
        self._volume = np.zeros(n_symbols)

    def add(self, batch: BarBatch) -> list[BarBatch]:
        """Fold in closed feed intervals (one symbol at most once per interval, times not
        decreasing, none older than what came before) and return the coarse bars they complete."""
        out: list[BarBatch] = []
        if not len(batch):
            return out
        ts = batch.ts
        if ts[0] == ts[-1]:
            groups = [(int(ts[0]), batch)]
        else:
            if (ts[1:] < ts[:-1]).any():
                raise ValueError("BarAggregator.add needs bars in time order")
            cuts = np.flatnonzero(ts[1:] != ts[:-1]) + 1
            groups = [(int(ts[rows[0]]), batch.take(rows)) for rows in np.split(np.arange(len(ts)), cuts)]
        for start, rows in groups:
            coarse = start - start % self.target_ns
            if self._start is not None and coarse != self._start:
                if coarse < self._start:
                    raise ValueError("BarAggregator.add got a bar older than the coarse bar it is building")
                out += self._emit()
            self._start = coarse
            self._fold(rows)
        return out + self.advance(int(ts[-1]) + self.feed_ns)

    def advance(self, closed_until_ns: int) -> list[BarBatch]:
        """Every feed interval starting before `closed_until_ns` is closed: emit the coarse bar
        if that completes it."""
        if self._start is not None and closed_until_ns >= self._start + self.target_ns:
            return self._emit()
        return []

    def flush(self) -> list[BarBatch]:
        """Emit the coarse bar in progress, incomplete or not (end of stream)."""
        return self._emit() if self._start is not None else []

    def _fold(self, rows: BarBatch) -> None:
        sym = rows.sym
        first = ~self._has[sym]
        self._open[sym[first]] = rows.open[first]
        self._high[sym] = np.maximum(self._high[sym], rows.high)
        self._low[sym] = np.minimum(self._low[sym], rows.low)
        self._close[sym] = rows.close
        self._volume[sym] += rows.volume
        self._has[sym] = True

    def _emit(self) -> list[BarBatch]:
        rows = np.flatnonzero(self._has)
        start, self._start = self._start, None
        if not len(rows):
            return []
        bars = BarBatch(np.full(len(rows), start, dtype=np.int64), rows, self._open[rows], self._high[rows],
                        self._low[rows], self._close[rows], self._volume[rows])
        self._has[rows] = False
        self._high[rows] = -np.inf
        self._low[rows] = np.inf
        self._volume[rows] = 0.0
        return [bars]

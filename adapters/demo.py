"""The `demo` data source: seeded synthetic bars at any granularity, live and historical.

The embedded default, so a first run needs no account and no network. Every bar is a pure
function of (seed, symbol, granularity, bar start) (see `demo_bars`), so warm-up history and the
live stream agree and a restarted run sees the same bars.

- `speed="realtime"`: an interval's bars are yielded as soon as the wall clock passes its end.
- `speed="max"`: intervals are yielded back to back as fast as the consumer takes them (an async
  generator: it computes the next interval only when asked), starting at `start_ns`.
Both stop after `duration_ns` of bar time when it is given. Every interval is yielded, empty or
not, so the consumer sees the feed's clock advance.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Literal

from sqfast.errors import SqfastError
from sqfast.types import GRANULARITY_NAMES, GRANULARITY_SECONDS, NS_PER_SECOND, BarBatch

from .demo_bars import DemoBars

Speed = Literal["realtime", "max"]
SPEEDS = ("realtime", "max")


class DemoFeed:
    """Feed and HistorySource over `DemoBars`.

    `start_ns`: the first bar starts at the first interval boundary at or after it; None starts
    with the interval in progress now (yielded when it ends in `realtime`). `clock` and `sleep`
    are injectable so tests can run the real-time loop on a fake clock.
    """

    name = "demo"
    granularities = frozenset(GRANULARITY_SECONDS.values())

    def __init__(self, seed: int = 0, speed: Speed = "realtime", start_ns: int | None = None,
                 duration_ns: int | None = None, *, clock: Callable[[], int] = time.time_ns,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep):
        if speed not in SPEEDS:
            raise SqfastError(f"unknown speed {speed!r} (use one of: {', '.join(SPEEDS)})")
        if duration_ns is not None and duration_ns <= 0:
            raise SqfastError(f"duration must be positive, got {duration_ns} ns")
        self.seed, self.speed = seed, speed
        self.start_ns, self.duration_ns = start_ns, duration_ns
        self._clock, self._sleep = clock, sleep
        self._simulated_now: int | None = None

    def now_ns(self) -> int:
        """Wall time in `realtime`; in `max`, the end of the last interval yielded (before the
        first, the configured start)."""
        if self.speed == "realtime":
            return self._clock()
        if self._simulated_now is not None:
            return self._simulated_now
        return self.start_ns if self.start_ns is not None else self._clock()

    def _step_ns(self, granularity_seconds: int) -> int:
        if granularity_seconds not in self.granularities:
            served = ", ".join(GRANULARITY_NAMES[g] for g in sorted(self.granularities))
            raise SqfastError(f"the demo feed has no {granularity_seconds}-second bars (it serves {served})")
        return granularity_seconds * NS_PER_SECOND

    async def stream(self, symbols: Sequence[str], granularity_seconds: int) -> AsyncIterator[BarBatch]:
        """One batch per interval, in time order; `sym` indexes `symbols`."""
        step = self._step_ns(granularity_seconds)
        bars = DemoBars(symbols, granularity_seconds, self.seed)
        if self.start_ns is None:
            first = self.now_ns() // step
            end = None if self.duration_ns is None else first * step + self.duration_ns
        else:
            first = -(-self.start_ns // step)
            end = None if self.duration_ns is None else self.start_ns + self.duration_ns
        i = first
        while end is None or i * step < end:
            close_ns = (i + 1) * step
            if self.speed == "realtime":
                while (now := self._clock()) < close_ns:
                    await self._sleep((close_ns - now) / NS_PER_SECOND)
            batch = bars.interval(i)
            if self.speed == "max":
                self._simulated_now = close_ns
            yield batch
            if self.speed == "max":
                await asyncio.sleep(0)  # let the loop's other tasks (broker, journal) run
            i += 1

    async def history(self, symbols: Sequence[str], granularity_seconds: int,
                      start_ns: int, end_ns: int) -> BarBatch:
        """Bars starting in `[start_ns, end_ns)`, complete by `now_ns()`; sorted by (ts, sym)."""
        step = self._step_ns(granularity_seconds)
        stop = min(-(-end_ns // step), self.now_ns() // step)
        first = -(-start_ns // step)
        if stop <= first:
            return BarBatch.empty()
        bars = DemoBars(symbols, granularity_seconds, self.seed)
        return await asyncio.to_thread(bars.bars, first, stop)

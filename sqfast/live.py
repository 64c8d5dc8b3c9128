"""`sqfast run`: wires the configured feed, engine, journal and console together and drives them.

Three threads, joined by bounded queues, so none waits on another's work:
- the asyncio loop runs the feed: its batches go through the assembler (validation,
  late/duplicate counts) and each closed interval into a queue (`QUEUE_INTERVALS` deep);
- the engine thread owns the engine's state: it takes one closed interval at a time, steps
  every strategy and collects the interval's journal rows;
- the journal's writer thread commits each interval's rows in one transaction, in order
  (`Journal.open(background=True)`), while the engine goes on with the next interval. The
  simulated broker has no state outside the process, so nothing waits for a commit; a live
  broker must `flush()` the journal before it sends an order.

A run directory remembers the run's first interval. Restarting with the same directory warms
the indicators up on history before that interval, re-simulates the run's own past intervals
from history (rebuilding every sub-account; the journal already holds their orders, so nothing
is sent twice), checks the rebuilt positions against the journal's, and continues live after
the last interval the journal completed.
"""

import asyncio
import dataclasses
import datetime as dt
import functools
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .adapters.demo import DemoFeed
from .assembler import BarAssembler
from .config_types import RunConfig
from .console import RunConsole
from .engine import Engine, IntervalStats, load_strategies
from .errors import SqfastError
from .journal import Journal
from .journal_rows import FeedCounters
from .types import NS_PER_SECOND, BarBatch

log = logging.getLogger("sqfast.run")

QUEUE_INTERVALS = 8
"""Closed intervals the feed may run ahead of the engine."""

DEFAULT_MAX_START = dt.datetime(2024, 1, 2, 14, 30, tzinfo=dt.UTC)
"""Where a `--speed max` run on the demo feed starts when its options give no `start`."""


def run(config: RunConfig) -> int:
    """Run the configured portfolio until its duration ends or Ctrl-C; 0 on a clean finish."""
    if config.mode == "live":
        raise SqfastError("live mode needs a live broker, and this version has none yet (Alpaca comes "
                          "next): run with mode = \"paper\" or \"signals\"")
    if config.broker != "sim":
        raise SqfastError(f"broker {config.broker!r} is not available in this version: use broker = \"sim\"")
    if config.data_source != "demo":
        raise SqfastError(f"data source {config.data_source!r} is not available in this version: use "
                          "data_source = \"demo\"")
    strategies = load_strategies(config)  # every strategy mistake before anything starts
    console = RunConsole(config.verbosity, throttle=config.speed == "max")
    return asyncio.run(_Run(config, strategies, console).main())


def _ns(value: dt.datetime) -> int:
    return int(value.timestamp()) * NS_PER_SECOND + value.microsecond * 1000


def _intervals(batch: BarBatch) -> list[BarBatch]:
    """A sorted history batch split into one batch per bar time."""
    if not len(batch):
        return []
    cuts = np.flatnonzero(np.diff(batch.ts)) + 1
    return [batch.take(np.arange(a, b)) for a, b in zip([0, *cuts], [*cuts, len(batch)], strict=True)]


class _Run:
    """One `sqfast run` process."""

    def __init__(self, config: RunConfig, strategies: list, console: RunConsole):
        self.config, self.strategies, self.console = config, strategies, console
        self.step_ns = config.granularity.seconds * NS_PER_SECOND
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="sqfast-engine")
        self.journal: Journal | None = None
        self.engine: Engine | None = None
        self.assembler = BarAssembler(len(config.symbols), config.granularity.seconds)
        self.seed = int(config.source_options.get("seed", 0))

    async def on_engine(self, fn, *args, **kwargs):
        """Run `fn` on the engine's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def main(self) -> int:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stopping.set)
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
        try:
            # The simulated broker keeps no state outside the journal, so a commit need not be fsynced
            # (SIGKILL-safe either way; a power cut loses whole intervals, which a restart redoes).
            durability = "NORMAL" if self.config.broker == "sim" else "FULL"
            self.journal = await self.on_engine(Journal.open, self.config.run_dir, create=True,
                                                config=_journal_config(self.config), synchronous=durability,
                                                background=True)
            self._start_log()
            previous = await self.on_engine(self.journal.feed_counters)
            self.counter_base = previous.get(self.config.data_source, FeedCounters(self.config.data_source))
            self.engine = await self.on_engine(Engine, self.config, self.strategies, self.journal)
            live = asyncio.ensure_future(self.drive())
            stop = asyncio.ensure_future(stopping.wait())
            await asyncio.wait({live, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop.done() and not live.done():
                self.console.info("stopping (interrupted): finishing the interval, flushing the journal")
                live.cancel()
            stop.cancel()
            try:
                await live
            except asyncio.CancelledError:
                pass
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
            await self.finish()
        return 0

    def _start_log(self) -> None:
        """The run's log file, `sqfast.log` in the run directory (INFO; signals at DEBUG)."""
        handler = logging.FileHandler(self.journal.log_path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("sqfast")
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        self._log_handler = handler
        state = "resumed" if self.journal.resumed else "started"
        log.info("run %s %s: %s, %s, %d symbols, strategies %s", self.journal.run_id, state,
                 self.config.mode, self.config.granularity.name, len(self.config.symbols),
                 ", ".join(f"{s.id} ({s.allocation:.0%})" for s in self.config.strategies))

    async def finish(self) -> None:
        if getattr(self, "_log_handler", None) is not None:
            log.info("run stopped: %s", self.console.totals())
            logging.getLogger("sqfast").removeHandler(self._log_handler)
            self._log_handler.close()
        if self.journal is not None:
            try:
                await self.on_engine(self.journal.export)  # flushes the writer first
            finally:
                await self.on_engine(self.journal.close)  # marks the session stopped, even after an error
            self.console.info(f"journal: {self.config.run_dir / 'journal.sqlite'}; exports: trades.parquet, "
                              "equity.parquet")
        if self.engine is not None:
            self.console.summary(self.engine)
        self.executor.shutdown()

    def start_ns(self) -> int:
        """The run's first interval: remembered by the journal, else now (or the demo start)."""
        remembered = self.journal.risk("run")
        if remembered:
            return int(remembered["start_ns"])
        if self.config.speed == "max":
            start = self.config.source_options.get("start") or DEFAULT_MAX_START
            first = _ns(start)
        else:
            first = time.time_ns()
        return -(-first // self.step_ns) * self.step_ns

    async def drive(self) -> None:
        config, engine = self.config, self.engine
        start = await self.on_engine(self.start_ns)
        end = start + config.duration_seconds * NS_PER_SECOND if config.duration_seconds else None
        history = DemoFeed(self.seed, "max", start_ns=start)
        warm = _intervals(await history.history(config.symbols, config.granularity.seconds,
                                                start - engine.history_ns(), start))
        await self.replay(warm, functools.partial(engine.warm_up, start_ns=start), "warm-up")
        done = await self.on_engine(self.journal.progress)
        resume = start
        if done:
            last = max(done.values())
            past = DemoFeed(self.seed, "max", start_ns=last + self.step_ns)
            intervals = _intervals(await past.history(config.symbols, config.granularity.seconds, start,
                                                      last + self.step_ns))
            engine.known = {o.client_order_id: o.state for o in await self.on_engine(self.journal.orders)}
            await self.replay(intervals, engine.resimulate, "re-simulating the run so far")
            await self.on_engine(self.check_positions)
            resume = last + self.step_ns
            self.console.info(f"resumed after {len(intervals)} intervals; continuing at {_iso(resume)}")
        if end is not None and resume >= end:
            self.console.info("the run's duration is already complete")
            return
        feed = DemoFeed(self.seed, config.speed, start_ns=resume,
                        duration_ns=None if end is None else end - resume)
        await self.on_engine(self.begin, start)
        queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_INTERVALS)
        producer = asyncio.ensure_future(self.produce(feed, queue))
        try:
            while (item := await queue.get()) is not None:
                self.show(await self.on_engine(self.live_interval, *item))
        except BaseException:  # interrupted, or the engine failed: stop the feed too
            producer.cancel()
            raise
        await producer  # the feed has ended; raises what it raised

    async def produce(self, feed: DemoFeed, queue: asyncio.Queue) -> None:
        """The feed's batches through the assembler, as closed intervals into `queue` (None at the
        end), each with the assembler's counters as they were when it closed (the journal keeps
        them with the interval, so a restart neither loses nor double-counts bars). The queue is
        bounded: a feed that outruns the engine waits here."""
        try:
            async for batch in feed.stream(self.config.symbols, self.config.granularity.seconds):
                for interval in self.assembler.add(batch, feed.now_ns()):
                    await queue.put((interval, dict(self.assembler.counters)))
            for interval in self.assembler.flush():
                await queue.put((interval, dict(self.assembler.counters)))
        except Exception:
            await queue.put(None)  # the engine stops; awaiting this task then raises the error
            raise
        await queue.put(None)

    def show(self, stats: IntervalStats) -> None:
        self.console.interval(stats)
        for line in stats.lines:
            (log.warning if line.lstrip().startswith("blocked") else log.debug)(line.strip())

    async def replay(self, intervals: list[BarBatch], step, label: str) -> None:
        """Feed history intervals to the engine (warm-up or re-simulation), with a progress bar."""
        progress = self.console.progress(len(intervals), label)
        chunk = 64
        if progress:
            progress.start()
        try:
            for k in range(0, len(intervals), chunk):
                part = intervals[k: k + chunk]
                await self.on_engine(lambda part=part: [step(i) for i in part])
                if progress:
                    progress.advance(progress.task_ids[0], len(part))
        finally:
            if progress:
                progress.stop()

    # ------------------------------------------------------------------ on the engine thread
    def begin(self, start: int) -> None:
        """Record the run's start and its strategies (first session) before the first interval."""
        with self.journal.interval() as tx:
            if not self.journal.risk("run"):
                tx.risk("run", {"start_ns": start})
            for slot in self.engine.slots:
                tx.strategy(slot.id, slot.config.allocation, self.config.capital * slot.config.allocation,
                            self.config.granularity_of(slot.config).name, len(slot.symbols))

    def live_interval(self, interval: BarBatch, counters: dict[str, int]) -> IntervalStats:
        engine = self.engine
        engine.risk.halted = self.journal.kill_switch().halted
        with self.journal.interval() as tx:
            stats = engine.live(interval, tx)
            for slot in engine.slots:
                equity, cash = engine.strategy_equity(slot)
                tx.equity(slot.id, stats.ts_ns, equity, cash)
            tx.risk("limits", engine.risk.state())
            tx.counters(self.feed_counters(counters, stats.ts_ns))
        return stats

    def feed_counters(self, c: dict[str, int], last_ts_ns: int) -> FeedCounters:
        """The data source's bar counters over the whole run: earlier sessions' plus this one's
        (`c`, the assembler's)."""
        base = self.counter_base
        invalid = sum(v for k, v in c.items() if k.startswith("invalid"))
        return FeedCounters(self.config.data_source, base.received + c["received"],
                            base.accepted + c["accepted"], base.duplicate + c["duplicate"],
                            base.late + c["late"],
                            base.out_of_order + c["out_of_order"], base.invalid + invalid, last_ts_ns,
                            time.time_ns())

    def check_positions(self) -> None:
        """After re-simulation, every sub-account must hold what the journal says it holds."""
        journaled = {(p.strategy, p.symbol): p.size for p in self.journal.positions()}
        for slot in self.engine.slots:
            for row, symbol in enumerate(slot.symbols):
                ours = float(slot.units[row])
                theirs = journaled.get((slot.id, symbol), 0.0)
                if ours != theirs:
                    raise SqfastError(f"restart: {slot.id} {symbol} re-simulates to a position of {ours:g} "
                                      f"but the journal holds {theirs:g}; the run directory does not match "
                                      "this configuration or data")
        limits = self.journal.risk("limits")
        if limits:
            self.engine.risk.restore(limits)


def _iso(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / NS_PER_SECOND, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _journal_config(config: RunConfig) -> dict:
    """The configuration as the journal keeps it (JSON values; it compares them on restart)."""
    return _plain(dataclasses.asdict(config))


def _plain(value):
    if isinstance(value, dict):
        if set(value) == {"name", "seconds"}:
            return value["name"]  # a Granularity
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)

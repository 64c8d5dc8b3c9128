"""The live engine (issue 4): per-interval engine overhead next to the compiled step, sustained
`--speed max` throughput at 10,000 symbols, time to the first signal and peak RSS of `sqfast run`.

Every run uses the shipped portfolio's three strategies (sma_cross, ema_cross, rsi_reversion) on
the demo feed at 1-second bars from the `--speed max` default start (the US session's open,
where about 80% of symbols have a bar each second). The shipped file is sized for its 50-symbol
universe; here its capital, gross-exposure, daily-loss and orders-per-minute limits are scaled
by (symbols / 50), so every sub-account keeps the shipped 2,000 of capital and orders reach the
simulated broker (unscaled, 100,000 over 10,000 symbols is 4 per sub-account, which buys
nothing, and the orders-per-minute limit soon blocks nearly every order: a cheaper path that
no real portfolio of that size would take).

The compile cache is a temporary directory (`SQFAST_CACHE_DIR`) filled before anything is timed,
so every figure is a warm-cache one.
"""

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest

from benchmarks.conftest import QUICK, RESULTS, rounds
from sqfast.adapters.demo_bars import DemoBars
from sqfast.config import Overrides, build_config
from sqfast.engine import Engine, load_strategies
from sqfast.journal import Journal
from sqfast.live import DEFAULT_MAX_START
from sqfast.types import NS_PER_SECOND
from sqfast.universe import read_universe

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "portfolio.toml"
SEED = 7
START_S = int(DEFAULT_MAX_START.timestamp())  # the first live 1-second interval, as `sqfast run`
SCALED_LIMITS = ("max_gross_exposure", "daily_loss_limit", "max_orders_per_minute")

ENGINE_SIZES = (1_000, 10_000)
TRADING_WARMUP = 30  # live intervals before timing, so sub-accounts hold positions (same in quick mode:
# an interval's cost grows with the open positions and pending orders)
ENGINE_ROUNDS = {1_000: 40, 10_000: 20}  # intervals timed per variant (conftest.rounds: fewer in quick)
THROUGHPUT_SECONDS = (20, 40) if QUICK else (20, 120)  # two run durations; their difference is timed
RSS_SECONDS = 10 if QUICK else 30
FIRST_SIGNAL_ROUNDS = 2 if QUICK else 5
RUN_TIMEOUT = 900


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


def write_portfolio(directory: Path, n_symbols: int) -> Path:
    """The shipped portfolio at 1-second bars over `n_symbols` generated symbols, its capital and
    portfolio-wide limits scaled to the universe (module docstring); no duration or run_dir."""
    shipped = tomllib.loads(SHIPPED.read_text())
    scale = n_symbols / len(read_universe(SHIPPED.parent / shipped["symbols_file"]))
    universe = directory / f"universe_{n_symbols}.txt"
    universe.write_text("".join(f"S{k:05d}\n" for k in range(n_symbols)))
    risk = {k: (type(v)(v * scale) if k in SCALED_LIMITS else v) for k, v in shipped["risk"].items()}
    lines = ['data_source = "demo"', 'granularity = "1s"', 'mode = "paper"', 'broker = "sim"',
             f"capital = {_toml(type(shipped['capital'])(shipped['capital'] * scale))}",
             f"symbols_file = {_toml(universe.name)}", "", "[source.demo]", f"seed = {SEED}", "", "[risk]",
             *(f"{k} = {_toml(v)}" for k, v in risk.items())]
    for strategy in shipped["strategy"]:
        strategy = {**strategy, "file": str((SHIPPED.parent / strategy["file"]).resolve())}
        lines += ["", "[[strategy]]", *(f"{k} = {_toml(v)}" for k, v in strategy.items())]
    path = directory / f"portfolio_{n_symbols}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def command(*args) -> list[str]:
    return [sys.executable, "-m", "sqfast.cli", *map(str, args)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A working directory with the portfolios, and a compile cache warmed by one short run."""
    directory = tmp_path_factory.mktemp("bench_engine")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SQFAST_CACHE_DIR", str(directory / "cache"))
        patch.setenv("NO_COLOR", "1")
        patch.setenv("PYTHONUNBUFFERED", "1")
        for n in (*ENGINE_SIZES, 2):
            write_portfolio(directory, n)
        subprocess.run(command("run", "portfolio_2.toml", "--speed", "max", "--duration", "3s", "--run-dir",
                               directory / "warm_cache_run", "-q"),
                       cwd=directory, check=True, capture_output=True, timeout=RUN_TIMEOUT)
        yield directory


# ---------------------------------------------------------------------------------- 1. engine per interval
class EngineBench:
    """An `Engine` over `n` symbols driven directly, one 1-second demo interval at a time, after
    the indicator warm-up and `TRADING_WARMUP` trading intervals.

    Without a journal, an interval is `Engine.live(batch, tx=None)`: the whole path (risk gate,
    orders placed on the sub-accounts, their fills, trades and positions read back) minus the
    journal's writes. With one, it is what `sqfast run` does on its engine thread per interval:
    `Engine.live` collecting the interval's journal rows with the strategies' equity rows and the
    risk state, handed to the journal's writer thread (background mode and synchronous=NORMAL on
    the simulated broker, as the run opens it). The writer commits beside it; when it falls more
    than the journal's queue behind, the hand-over waits, and that wait is in the figure. The
    journal is on from the first trading interval, as in a run.

    Each strategy's `StepArrays.call` (the compiled step and its argument unpacking, nothing
    else) is wrapped to add its time to `step_seconds`."""

    def __init__(self, directory: Path, n: int, journaled: bool):
        self.n = n
        name = f"engine_{n}_{'journal' if journaled else 'nojournal'}"
        overrides = Overrides(speed="max", run_dir=str(directory / name), quiet=True)
        config = build_config(Path(f"portfolio_{n}.toml"), overrides, cwd=directory)
        strategies = load_strategies(config)
        durability = "NORMAL" if config.broker == "sim" else "FULL"  # as sqfast.live opens it
        self.journal = (Journal.open(config.run_dir, create=True, synchronous=durability, background=True)
                        if journaled else None)
        self.engine = Engine(config, strategies, journal=self.journal)
        self.bars = DemoBars(config.symbols, 1, SEED)
        self.step_seconds = 0.0
        for slot in self.engine.slots:
            if slot.compiled:
                slot.runner.arrays.call = self._timed(slot.runner.arrays.call)
        start_ns = START_S * NS_PER_SECOND
        for i in range(START_S - self.engine.history_ns() // NS_PER_SECOND, START_S):
            self.engine.warm_up(self.bars.interval(i), start_ns)
        self.next = START_S
        for batch in self.batches(TRADING_WARMUP):
            self.interval(batch)

    def interval(self, batch):
        engine = self.engine
        if self.journal is None:
            return engine.live(batch, None)
        with self.journal.interval() as tx:
            stats = engine.live(batch, tx)
            for slot in engine.slots:
                tx.equity(slot.id, stats.ts_ns, *engine.strategy_equity(slot))
            tx.risk("limits", engine.risk.state())
        return stats

    def _timed(self, call):
        def timed(*args):
            started = time.perf_counter()
            call(*args)
            self.step_seconds += time.perf_counter() - started

        return timed

    def batches(self, count: int) -> list:
        """The next `count` intervals, generated before anything is timed."""
        out = [self.bars.interval(i) for i in range(self.next, self.next + count)]
        self.next += count
        return out

    def positions(self) -> int:
        return int(sum((slot.units != 0).sum() for slot in self.engine.slots))

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()


@pytest.mark.parametrize("journaled", [False, True], ids=["no_journal", "journal"])
@pytest.mark.parametrize("n", ENGINE_SIZES, ids=lambda n: f"{n}sym")
def test_engine_interval(record, workdir, n, journaled):
    """A closed interval in, orders out (EngineBench). Keeps the medians of the interval's wall
    time, of its compiled steps' and of the difference (per interval), the engine's overhead; and
    of its CPU time, which a loaded shared machine disturbs less (time waiting on the disk is not in it)."""
    bench = EngineBench(workdir, n, journaled)
    key = f"engine_interval_{'journal_' if journaled else ''}{n}"
    timed = bench.batches(rounds(ENGINE_ROUNDS[n]) + 1)  # + pytest-benchmark's warm-up round
    batches = iter(timed)
    samples: list[tuple[float, float, float, int]] = []

    def one_interval():
        batch = next(batches)
        bench.step_seconds = 0.0
        started, cpu = time.perf_counter(), time.process_time()
        stats = bench.interval(batch)
        total = time.perf_counter() - started
        samples.append((total, bench.step_seconds, time.process_time() - cpu, stats.signals))

    try:
        record(key, one_interval, rounds_=ENGINE_ROUNDS[n], warmup_rounds=1)
    finally:
        bench.close()
    samples = samples[1:]  # the warm-up round
    totals, steps, cpus, signals = zip(*samples, strict=True)
    RESULTS[key] = statistics.median(totals)
    RESULTS[f"{key}_step"] = statistics.median(steps)
    RESULTS[f"{key}_overhead"] = statistics.median(t - s for t, s, _, _ in samples)
    RESULTS[f"{key}_cpu"] = statistics.median(cpus)
    RESULTS[f"{key}_signals"] = statistics.median(signals)
    RESULTS[f"{key}_bars"] = statistics.mean(len(b) for b in timed)
    RESULTS[f"{key}_positions"] = bench.positions()


# ---------------------------------------------------------------------------------- subprocess runs
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}")
"""
"""Runs a command and writes its exit code, CPU seconds and peak RSS (KiB) to a file. Linux
counts a process's peak RSS from the process it was forked from (exec keeps the old memory's
high-water mark), so `sqfast run` is forked from this small launcher, not from the benchmark
process, whose own RSS (hundreds of MB after the in-process engine benchmarks) would otherwise
be reported as the child's."""


def _run(workdir: Path, n: int, seconds: int, name: str) -> tuple[float, float, int]:
    """`sqfast run` over `n` symbols for `seconds` of bars, to completion: (wall seconds from
    start to exit, CPU seconds, peak RSS in KiB), of that process alone (LAUNCHER)."""
    run_dir = workdir / name
    log = (workdir / f"{name}.stderr").open("w+")
    usage = workdir / f"{name}.usage"
    started = time.perf_counter()
    run = command("run", f"portfolio_{n}.toml", "--speed", "max", "--duration", f"{seconds}s", "--run-dir",
                  run_dir, "-q")
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(usage), *run], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        proc.wait(RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the run
        raise
    wall = time.perf_counter() - started
    log.seek(0)
    code, cpu, kib = usage.read_text().split() if proc.returncode == 0 else ("?", "0", "0")
    assert code == "0", f"sqfast run failed ({code}):\n{log.read()[-3000:]}"
    log.close()
    return wall, float(cpu), int(kib)


def test_throughput_10000_symbols(workdir):
    """Simulated seconds per wall second at 1-second bars, 10,000 symbols, three strategies,
    `--speed max`, journal on (as a user runs it).

    Start-up (imports, strategy loading, engine construction), the indicator warm-up, the
    journal's export and the summary cost the same whatever the duration, so two runs of
    different durations are timed start to exit and their difference gives the live phase:
    (d2 - d1) / (wall2 - wall1), over simulated seconds d1 to d2 of the run. An interval costs
    more as the run goes on (sub-accounts with pending orders, whose books are read back every
    bar, accumulate), so the figure depends on that window: 20-40 s in quick mode, 20-120 s in
    full mode (the per-interval benchmark times intervals 31 on). The larger run is measured
    first so the smaller does not warm the page cache for it alone. The same from the runs' CPU
    time (both threads) is kept too: a loaded shared machine disturbs it less."""
    short, long = THROUGHPUT_SECONDS
    wall_long, cpu_long, rss_long = _run(workdir, 10_000, long, "throughput_long")
    wall_short, cpu_short, _ = _run(workdir, 10_000, short, "throughput_short")
    per_simulated_second = (wall_long - wall_short) / (long - short)
    RESULTS["engine_throughput_10000"] = 1 / per_simulated_second
    RESULTS["engine_throughput_10000_cpu"] = (long - short) / (cpu_long - cpu_short)
    RESULTS["engine_throughput_wall_short"], RESULTS["engine_throughput_wall_long"] = wall_short, wall_long
    RESULTS["engine_throughput_rss_mb"] = rss_long * 1024 / 1e6
    RESULTS["engine_throughput_seconds_short"], RESULTS["engine_throughput_seconds_long"] = short, long


def test_first_signal_1000_symbols(workdir):
    """From process start to the first signal line on stdout (two spaces, then the strategy id or,
    for a bar with more than 20 signals, their count), 1,000 symbols, warm compile cache,
    `--speed max`; then the run is killed. Median of fresh runs (each its own run directory:
    reusing one would resume it)."""
    seconds = []
    for k in range(FIRST_SIGNAL_ROUNDS):
        started = time.perf_counter()
        proc = subprocess.Popen(command("run", "portfolio_1000.toml", "--speed", "max", "--duration", "1h",
                                        "--run-dir", workdir / f"first_signal_{k}"),
                                cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        timer = threading.Timer(RUN_TIMEOUT, proc.kill)
        timer.start()
        try:
            first = next((line for line in proc.stdout if line.startswith("  ")), None)
            elapsed = time.perf_counter() - started
        finally:
            timer.cancel()
            proc.kill()
            proc.wait(timeout=30)
            proc.stdout.close()
        assert first is not None, "the run ended without a signal"
        seconds.append(elapsed)
    RESULTS["engine_first_signal_1000"] = statistics.median(seconds)
    RESULTS["engine_first_signal_1000_best"] = min(seconds)


def test_peak_rss_10000_symbols(workdir):
    """Peak resident set of a whole `sqfast run` over 10,000 symbols at 1-second bars (this child's
    own ru_maxrss, from wait4), in MB (10^6 bytes)."""
    _, _, kib = _run(workdir, 10_000, RSS_SECONDS, "peak_rss")
    RESULTS["engine_peak_rss_mb_10000"] = kib * 1024 / 1e6
    RESULTS["engine_peak_rss_seconds"] = RSS_SECONDS

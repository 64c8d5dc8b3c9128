"""Translated strategies: the compiled SMA-crossover step per bar next to a hand-written fused
step; replay against backtesting.py run per symbol; translation time, cold and warm."""

import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from backtesting import Backtest

from benchmarks.conftest import QUICK, RESULTS
from benchmarks.fused_sma_cross import fused_sma_cross_step, fused_state
from sqfast.bars_io import SymbolBars
from sqfast.compile.analysis import analyse
from sqfast.compile.translate import StepArrays, compile_step
from sqfast.replayer import replay
from sqfast.synthetic import demo_bars

ROOT = Path(__file__).resolve().parents[1]
SMA_CROSS = ROOT / "strategies" / "sma_cross.py"
N_STEP = 10_000
REPLAY_SYMBOLS, REPLAY_BARS = (200, 5_000) if QUICK else (1_000, 5_000)
BACKTESTING_SAMPLE = 2 if QUICK else 5


def _compiled_bar():
    """One bar of the translated SMA-cross step over N_STEP symbols, as a callable."""
    compiled = compile_step(analyse(SMA_CROSS))
    arrays = StepArrays(compiled.layout, N_STEP)
    closes = demo_bars(256, N_STEP, seed=4).close
    sym = np.arange(N_STEP)
    close, position = arrays.bar["Close"], [0]

    def one_bar():
        t = position[0]
        position[0] = t + 1
        close[:] = closes[t % 256]
        arrays.call(compiled.step, sym, True)

    return one_bar


def _fused_bar():
    """One bar of the hand-written fused step over the same symbols and bars, as a callable."""
    state = fused_state(N_STEP)
    closes = demo_bars(256, N_STEP, seed=4).close
    close, position = np.zeros(N_STEP), [0]

    def one_bar():
        t = position[0]
        position[0] = t + 1
        close[:] = closes[t % 256]
        fused_sma_cross_step(t, close, *state)

    return one_bar


def test_compiled_step_sma_cross(record):
    one_bar = _compiled_bar()
    for _ in range(40):
        one_bar()
    record("sma_cross_step_compiled_10000", one_bar, rounds_=30, iterations=20)


def test_fused_step_sma_cross(record):
    one_bar = _fused_bar()
    for _ in range(40):
        one_bar()
    record("sma_cross_step_fused_10000", one_bar, rounds_=30, iterations=20)


def test_step_ratio_interleaved():
    """compiled / fused from rounds taken in turns, so load changes on a shared machine hit both
    alike; each side's fastest round is its least disturbed."""
    sides = {"compiled": _compiled_bar(), "fused": _fused_bar()}
    best = dict.fromkeys(sides, float("inf"))
    for _ in range(40):
        for one_bar in sides.values():
            one_bar()
    for _ in range(30 if QUICK else 150):
        for name, one_bar in sides.items():
            started = time.perf_counter()
            for _ in range(10):
                one_bar()
            best[name] = min(best[name], (time.perf_counter() - started) / 10)
    RESULTS["sma_cross_step_ratio_interleaved"] = best["compiled"] / best["fused"]
    RESULTS["sma_cross_step_best_compiled"], RESULTS["sma_cross_step_best_fused"] = best.values()


def _universe():
    bars = demo_bars(REPLAY_BARS, REPLAY_SYMBOLS, seed=5, bars_per_session=REPLAY_BARS)
    times = np.datetime64("2010-01-01", "ns") + np.arange(REPLAY_BARS) * np.timedelta64(1, "D")
    return [SymbolBars(f"S{s}", {f: getattr(bars, f.lower())[:, s].copy() for f in
                                 ("Open", "High", "Low", "Close", "Volume")}, times)
            for s in range(REPLAY_SYMBOLS)]


def test_replay_sma_cross_universe(record):
    universe = _universe()
    replay(SMA_CROSS, universe[:2])  # translate and compile outside the timing
    record(f"replay_sqfast_{REPLAY_SYMBOLS}x{REPLAY_BARS}", replay, SMA_CROSS, universe, rounds_=1,
           warmup_rounds=0)


def test_replay_backtesting_per_symbol(record):
    import pandas as pd

    cls = analyse(SMA_CROSS).loaded.cls
    universe = _universe()[:BACKTESTING_SAMPLE]
    frames = [pd.DataFrame(b.columns, index=pd.DatetimeIndex(b.times)) for b in universe]

    def run_sample():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for frame in frames:
                Backtest(frame, cls).run()

    record("replay_backtesting_sample", run_sample, rounds_=1, warmup_rounds=0)
    per_symbol = RESULTS["replay_backtesting_sample"] / BACKTESTING_SAMPLE
    RESULTS[f"replay_backtesting_scaled_{REPLAY_SYMBOLS}"] = per_symbol * REPLAY_SYMBOLS


TRANSLATE = """
import sys, time
started = time.perf_counter()
from sqfast.compile.analysis import analyse
from sqfast.compile.translate import compile_step
compiled = compile_step(analyse(sys.argv[1]))
print(compiled.seconds, time.perf_counter() - started)
"""


def _translate_seconds(cache: str) -> float:
    env = {**os.environ, "SQFAST_CACHE_DIR": cache}
    out = subprocess.run([sys.executable, "-c", TRANSLATE, str(SMA_CROSS)], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0])


def test_translation_time_cold_and_warm(record):
    """In-process translation (code generation plus Numba compile, or cache load) of a fresh
    process: first with an empty compile cache, then with the cache that run filled."""
    with tempfile.TemporaryDirectory() as cache:
        RESULTS["translate_cold"] = _translate_seconds(cache)
        record("translate_warm_process", _translate_seconds, cache, rounds_=3, warmup_rounds=0)
        RESULTS["translate_warm"] = min(_translate_seconds(cache) for _ in range(3))

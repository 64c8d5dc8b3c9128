"""W2 = SMA(10), SMA(20), EMA(20), RSI(14) and crossover(SMA10, SMA20): streaming per bar
through the public kernel API against a fused hand-written reference, the whole-history batch
against TA-Lib, pandas and polars, and the start-up of a fresh process."""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from benchmarks.conftest import QUICK
from benchmarks.fused_w2 import fused_state, fused_w2_step
from sqfast import kernels as k
from sqfast.synthetic import demo_bars

N_STREAM = 10_000
STREAM_BARS = 256
T_BATCH, N_BATCH = 10_000, 1_000


@pytest.fixture(scope="module")
def stream_close():
    return np.ascontiguousarray(demo_bars(STREAM_BARS, N_STREAM, seed=2).close)


def cycle(step, rows):
    """A no-argument callable that feeds the next row to `step(t, row)` on every call."""
    position = [0]

    def one_bar():
        t = position[0]
        position[0] = t + 1
        step(t, rows[t % len(rows)])

    return one_bar


def test_w2_stream_public_api(record, stream_close):
    n = N_STREAM
    fast, slow = k.sma_init(n, 10), k.sma_init(n, 20)
    ema, rsi, cross = k.ema_init(n, 20), k.rsi_init(n, 14), k.crossover_init(n)
    o10, o20, oema, orsi = (np.empty(n) for _ in range(4))
    signal = np.zeros(n, dtype=np.bool_)

    def step(_t, close):
        k.sma_update(fast, None, close, o10)
        k.sma_update(slow, None, close, o20)
        k.ema_update(ema, None, close, oema)
        k.rsi_update(rsi, None, close, orsi)
        k.crossover_update(cross, None, o10, o20, signal)

    run = cycle(step, stream_close)
    for _ in range(40):
        run()
    record(f"w2_stream_public_{n}", run, rounds_=30, iterations=20)


def test_w2_stream_fused_reference(record, stream_close):
    n = N_STREAM
    state = fused_state(n)
    outs = (*(np.empty(n) for _ in range(4)), np.zeros(n, dtype=np.bool_))

    def step(t, close):
        fused_w2_step(t, close, *state, *outs)

    run = cycle(step, stream_close)
    for _ in range(40):
        run()
    record(f"w2_stream_fused_{n}", run, rounds_=30, iterations=20)


@pytest.fixture(scope="module")
def batch_close():
    return np.ascontiguousarray(demo_bars(T_BATCH, N_BATCH, seed=3).close)


def test_w2_batch_sqfast(record, batch_close):
    outs = [np.empty_like(batch_close) for _ in range(4)]
    signal = np.empty(batch_close.shape, dtype=np.bool_)

    def w2():
        k.sma_batch(batch_close, 10, out=outs[0])
        k.sma_batch(batch_close, 20, out=outs[1])
        k.ema_batch(batch_close, 20, out=outs[2])
        k.rsi_batch(batch_close, 14, out=outs[3])
        k.crossover_batch(outs[0], outs[1], out=signal)

    record("w2_batch_sqfast", w2, rounds_=8)


def test_w2_batch_talib(record, batch_close):
    talib = pytest.importorskip("talib")
    by_symbol = np.ascontiguousarray(batch_close.T)  # TA-Lib's best case: one contiguous row per symbol

    def w2():
        for x in by_symbol:
            a, b = talib.SMA(x, 10), talib.SMA(x, 20)
            talib.EMA(x, 20)
            talib.RSI(x, 14)
            np.logical_and(a[:-1] < b[:-1], a[1:] > b[1:])

    record("w2_batch_talib", w2, rounds_=8)


def test_w2_batch_pandas(record, batch_close):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(batch_close)

    def w2():
        a, b = frame.rolling(10).mean(), frame.rolling(20).mean()
        frame.ewm(span=20, adjust=False).mean()
        change = frame.diff()
        up = change.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
        down = (-change).clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
        100 * up / (up + down)
        (a.shift(1) < b.shift(1)) & (a > b)

    record("w2_batch_pandas", w2, rounds_=3)


def test_w2_batch_polars(record, batch_close):
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(batch_close, schema=[f"s{i}" for i in range(N_BATCH)], orient="row")
    c = pl.all()

    def w2():
        a = frame.select(c.rolling_mean(10))
        b = frame.select(c.rolling_mean(20))
        frame.select(c.ewm_mean(span=20, adjust=False))
        change = frame.select(c.diff())
        up = change.select(c.clip(lower_bound=0).ewm_mean(alpha=1 / 14, adjust=False))
        down = change.select((-c).clip(lower_bound=0).ewm_mean(alpha=1 / 14, adjust=False))
        (100 * up.to_numpy() / (up.to_numpy() + down.to_numpy()))
        pl.DataFrame(a.select(c.shift(1)).to_numpy() < b.select(c.shift(1)).to_numpy())

    record("w2_batch_polars", w2, rounds_=3)


W2_ONCE = """
import numpy as np
import sqfast.kernels as k
n = 100
close = 100 + np.random.default_rng(0).random(n)
s1, s2, e = k.sma_init(n, 10), k.sma_init(n, 20), k.ema_init(n, 20)
r, c = k.rsi_init(n, 14), k.crossover_init(n)
o1, o2, o3, o4, sig = np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.zeros(n, dtype=np.bool_)
k.sma_update(s1, None, close, o1); k.sma_update(s2, None, close, o2); k.ema_update(e, None, close, o3)
k.rsi_update(r, None, close, o4); k.crossover_update(c, None, o1, o2, sig)
"""


def fresh_process_seconds(cache_dir: str) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", W2_ONCE], env=env, check=True)
    return time.perf_counter() - started


def test_start_with_warm_cache(record):
    with tempfile.TemporaryDirectory() as cache_dir:
        fresh_process_seconds(cache_dir)  # fills the cache
        record("cold_start_warm_cache", fresh_process_seconds, cache_dir, rounds_=3 if QUICK else 5,
               warmup_rounds=0)


def test_start_with_cold_cache(record):
    """Every round compiles from nothing: a fresh, empty Numba cache directory each time."""
    cache_dirs: list[tempfile.TemporaryDirectory] = []

    def cold_once():
        cache_dirs.append(tempfile.TemporaryDirectory())
        return fresh_process_seconds(cache_dirs[-1].name)

    try:
        record("cold_start_cold_cache", cold_once, rounds_=2 if QUICK else 3, warmup_rounds=0)
    finally:
        for d in cache_dirs:
            d.cleanup()

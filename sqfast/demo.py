"""`sqfast demo`: W2 indicators streamed bar by bar over a seeded demo universe."""

import time

import numpy as np

from . import kernels as k
from .synthetic import demo_bars, demo_symbols


def run_demo(n_symbols: int, n_bars: int, seed: int, show: int) -> int:
    """Stream `n_bars` demo bars for `n_symbols` symbols; print timing, last values and signals."""
    bars = demo_bars(n_bars, n_symbols, seed)
    names = demo_symbols(n_symbols)
    fast, slow = k.sma_init(n_symbols, 10), k.sma_init(n_symbols, 20)
    ema, rsi, cross = k.ema_init(n_symbols, 20), k.rsi_init(n_symbols, 14), k.crossover_init(n_symbols)
    out = {name: np.empty(n_symbols) for name in ("sma10", "sma20", "ema20", "rsi14")}
    signal = np.zeros(n_symbols, dtype=np.bool_)
    crossings = np.zeros(n_symbols, dtype=np.int64)
    last_cross = np.full(n_symbols, -1)
    step_us = np.empty(n_bars)
    for t in range(n_bars):
        close = bars.close[t]
        started = time.perf_counter()
        k.sma_update(fast, None, close, out["sma10"])
        k.sma_update(slow, None, close, out["sma20"])
        k.ema_update(ema, None, close, out["ema20"])
        k.rsi_update(rsi, None, close, out["rsi14"])
        k.crossover_update(cross, None, out["sma10"], out["sma20"], signal)
        step_us[t] = (time.perf_counter() - started) * 1e6
        crossings += signal
        last_cross[signal] = t
    warm = step_us[min(5, n_bars - 1):]
    print(f"sqfast demo: {n_symbols} symbols x {n_bars} bars (seed {seed}); W2 per bar for all symbols: "
          f"median {np.median(warm):.1f} us, p99 {np.percentile(warm, 99):.1f} us")
    crossed = int((crossings > 0).sum())
    print(f"golden crosses (SMA10 over SMA20): {int(crossings.sum())} across {crossed} symbols")
    print()
    columns = ("close", "sma10", "sma20", "ema20")
    header = f"{'symbol':<10} " + " ".join(f"{c:>10}" for c in columns) + f" {'rsi14':>7} {'last cross':>11}"
    print(header)
    print("-" * len(header))
    for s in range(min(show, n_symbols)):
        when = f"bar {last_cross[s]}" if last_cross[s] >= 0 else "-"
        print(f"{names[s]:<10} {bars.close[-1, s]:>10.2f} {out['sma10'][s]:>10.2f} {out['sma20'][s]:>10.2f} "
              f"{out['ema20'][s]:>10.2f} {out['rsi14'][s]:>7.1f} {when:>11}")
    return 0

"""Seeded synthetic bars: the data behind the demo and the benchmarks.

Prices follow a geometric random walk with a per-symbol drift and volatility regimes that switch
at random; volume follows a U-shaped intraday profile. The same seed always gives the same bars.
"""

from typing import NamedTuple

import numpy as np


class Bars(NamedTuple):
    """OHLCV arrays shaped `(T, N)`: time first, one column per symbol."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def demo_symbols(n: int) -> list[str]:
    """Stable ticker-like names for a demo universe of `n` symbols."""
    return [f"DEMO{i:05d}" for i in range(n)]


def demo_bars(n_bars: int, n_symbols: int, seed: int = 0, bars_per_session: int = 390) -> Bars:
    """`n_bars` consistent OHLCV bars for `n_symbols` symbols from `seed`.

    Every bar satisfies `low <= min(open, close) <= max(open, close) <= high` and `volume > 0`.
    """
    rng = np.random.default_rng(seed)
    shape = (n_bars, n_symbols)
    drift = rng.normal(0.0, 2e-5, n_symbols)
    calm, stormy = 0.001, 0.004
    regime_switch = rng.random(shape) < 0.002
    stormy_now = np.cumsum(regime_switch, axis=0) % 2 == 1
    sigma = np.where(stormy_now, stormy, calm)
    log_returns = drift + sigma * rng.standard_normal(shape)
    start = rng.uniform(10.0, 500.0, n_symbols)
    close = start * np.exp(np.cumsum(log_returns, axis=0))
    open_ = np.vstack([start[None, :], close[:-1]]) * np.exp(0.2 * sigma * rng.standard_normal(shape))
    wick = np.abs(rng.normal(0.0, 1.0, (2, *shape))) * sigma * 0.5
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    minute = np.arange(n_bars) % bars_per_session
    u_shape = 1.0 + 2.0 * ((minute - bars_per_session / 2) / (bars_per_session / 2)) ** 2
    volume = np.round(rng.lognormal(8.0, 0.5, shape) * u_shape[:, None]) + 1.0
    return Bars(open_, high, low, close, volume)

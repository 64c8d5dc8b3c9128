"""Seeded synthetic markets for parity tests: trends, reversals and price gaps."""

import numpy as np
import pandas as pd


def parity_frame(seed: int, n_bars: int = 2_000) -> pd.DataFrame:
    """OHLCV bars shaped like backtesting.py's data: a daily DatetimeIndex and consistent bars.

    The drift flips sign at random (trends and reversals), and about 1 % of opens gap away
    from the previous close.
    """
    rng = np.random.default_rng(seed)
    flips = np.cumsum(rng.random(n_bars) < 0.01) % 2
    drift = np.where(flips == 1, -1.0, 1.0) * rng.uniform(2e-4, 1.5e-3)
    returns = drift + rng.normal(0.0, rng.uniform(0.005, 0.025), n_bars)
    close = rng.uniform(20.0, 400.0) * np.exp(np.cumsum(returns))
    gap = np.where(rng.random(n_bars) < 0.01, rng.normal(0.0, 0.04, n_bars), 0.0)
    open_ = np.concatenate([[close[0]], close[:-1]]) * np.exp(gap + rng.normal(0.0, 0.003, n_bars))
    high = np.maximum(open_, close) * (1.0 + rng.exponential(0.006, n_bars))
    low = np.minimum(open_, close) * (1.0 - rng.exponential(0.006, n_bars))
    volume = rng.integers(10_000, 1_000_000, n_bars).astype(float)
    index = pd.date_range("2015-01-01", periods=n_bars, freq="D")
    columns = {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume}
    return pd.DataFrame(columns, index=index)

"""Z-score mean reversion on a hand-written indicator.

``rolling_zscore`` is a plain numpy function with a Python loop: neither TA-Lib, nor
backtesting.test.SMA, nor a recognisable pandas rolling expression. Buys when the z-score of
Close over ``n`` bars falls below ``-entry_z`` and closes the position once it is back above
``exit_z``.

sqfast features: an unknown indicator function, which sqfast cannot map to a kernel and turns
into a *window node* recomputed on the ring window every bar (correct, slower, and reported by
``sqfast check``); its warm-up from the leading NaNs; a negated parameter in a comparison.
"""

import numpy as np
from backtesting import Strategy


def rolling_zscore(values, n):
    """(x - mean) / std over the trailing ``n`` values (population std); NaN for the first n-1."""
    x = np.asarray(values, dtype=float)
    out = np.full(len(x), np.nan)
    for i in range(n - 1, len(x)):
        window = x[i - n + 1 : i + 1]
        sd = window.std()
        out[i] = (x[i] - window.mean()) / sd if sd > 0 else 0.0
    return out


class CustomIndicator(Strategy):
    n = 20
    entry_z = 2.0
    exit_z = 0.0

    def init(self):
        self.z = self.I(rolling_zscore, self.data.Close, self.n)

    def next(self):
        if not self.position and self.z[-1] < -self.entry_z:
            self.buy()
        elif self.position and self.z[-1] > self.exit_z:
            self.position.close()

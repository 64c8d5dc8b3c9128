"""Bollinger-style dip buying in an uptrend, with every indicator written in pandas.

Buys when the close falls more than ``k`` sample standard deviations below its ``n``-bar rolling
mean while that mean is above a slower exponentially weighted mean (an uptrend); closes the
position once the close is back above the rolling mean.

sqfast features: pandas forms that sqfast recognises and maps to kernels: a lambda
``pd.Series(x).rolling(self.n).mean()`` (SMA kernel, window from the class parameter), a module
function ``rolling_std`` returning ``pd.Series(x).rolling(n).std()`` (the sample deviation, the
ROLLING_STD kernel, window from the ``self.I`` argument) and a lambda
``pd.Series(x).ewm(span=self.trend_span, adjust=False).mean()`` (EWM kernel, no warm-up).
"""

import pandas as pd
from backtesting import Strategy


def rolling_std(values, n):
    """Sample standard deviation of the last ``n`` values (pandas' default, ddof=1)."""
    return pd.Series(values).rolling(n).std()


class PandasRolling(Strategy):
    n = 20
    k = 1.5
    trend_span = 50

    def init(self):
        close = self.data.Close
        self.mean = self.I(lambda x: pd.Series(x).rolling(self.n).mean(), close, name="mean")
        self.sd = self.I(rolling_std, close, self.n)
        self.trend = self.I(lambda x: pd.Series(x).ewm(span=self.trend_span, adjust=False).mean(), close,
                            name="ewm")

    def next(self):
        price = self.data.Close[-1]
        lower = self.mean[-1] - self.k * self.sd[-1]
        if not self.position and self.mean[-1] > self.trend[-1] and price < lower:
            self.buy()
        elif self.position and price > self.mean[-1]:
            self.position.close()

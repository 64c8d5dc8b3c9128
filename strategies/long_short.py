"""Long/short on the direction of a moving average: long while the 50-bar SMA rises and the
close is above it, short while it falls and the close is below it, flat otherwise.

sqfast features: ``cross()`` (either direction), the SMA's slope from ``self.sma[-1]`` and
``self.sma[-2]``, ``self.position.is_long`` / ``is_short``, ``self.position.close()`` followed by
an opposite entry on the same bar, and ``sell()`` from flat opening a short.
"""

from backtesting import Strategy
from backtesting.lib import cross
from backtesting.test import SMA


class LongShort(Strategy):
    n = 50

    def init(self):
        self.sma = self.I(SMA, self.data.Close, self.n)

    def next(self):
        close = self.data.Close[-1]
        rising = self.sma[-1] > self.sma[-2]
        if cross(self.data.Close, self.sma):
            if close > self.sma[-1] and rising and not self.position.is_long:
                self.position.close()
                self.buy()
            elif close < self.sma[-1] and not rising and not self.position.is_short:
                self.position.close()
                self.sell()
            elif self.position:
                self.position.close()

"""Trend following in whole units with pyramiding.

Buys ``units`` shares each time the close makes a new ``n``-bar high, up to ``max_units`` in
total, and sells everything when the close drops below the ``n``-bar SMA.

sqfast features: orders sized in whole units (``buy(size=3)``: ``size >= 1`` is a number of
shares, never dollars), ``self.position.size`` compared with a parameter, several open trades in
one position, ``talib.MAX`` with ``self.highest[-2]`` (the previous bar's value),
``backtesting.test.SMA``.
"""

import talib
from backtesting import Strategy
from backtesting.test import SMA


class UnitsSized(Strategy):
    n = 20
    units = 3
    max_units = 9

    def init(self):
        self.highest = self.I(talib.MAX, self.data.Close, self.n)
        self.sma = self.I(SMA, self.data.Close, self.n)

    def next(self):
        close = self.data.Close[-1]
        if close > self.highest[-2] and self.position.size < self.max_units:
            self.buy(size=self.units)
        elif self.position.size > 0 and close < self.sma[-1]:
            self.position.close()

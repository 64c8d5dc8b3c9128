"""Bollinger Band breakout with stop-loss and take-profit on every entry.

A close above the upper band buys, a close below the lower band sells short; the stop-loss sits
on the middle band and the take-profit ``reward`` times that distance beyond the close. The
bands are one 2-D indicator (``talib.BBANDS`` returns upper, middle and lower lines).

sqfast features: ``talib.BBANDS`` (BBANDS kernel) as a 2-D indicator read as
``self.bands[line][-1]`` (its warm-up is the maximum over its lines), market entries with
``sl=`` and ``tp=`` (contingent orders checked on the bar the entry fills), ``sell()`` from flat
opening a short, local variables in ``next()``.
"""

import talib
from backtesting import Strategy


class BollingerBreakout(Strategy):
    n = 20
    k = 2.0
    reward = 2.0

    def init(self):
        self.bands = self.I(talib.BBANDS, self.data.Close, self.n, self.k, self.k)

    def next(self):
        close = self.data.Close[-1]
        upper = self.bands[0][-1]
        middle = self.bands[1][-1]
        lower = self.bands[2][-1]
        if not self.position:
            if close > upper:
                self.buy(sl=middle, tp=close + self.reward * (close - middle))
            elif close < lower:
                self.sell(sl=middle, tp=close - self.reward * (middle - close))

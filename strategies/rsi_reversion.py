"""RSI mean reversion with limit entries.

When RSI(7) drops below ``oversold`` while flat, places a limit buy ``discount`` below the
close (it fills on a later bar whose low reaches it, at the lower of that bar's open and the
limit). Closes the position once RSI has recovered above ``exit_level``. A limit that has not
filled stays pending (backtesting.py never expires it), so a later dip can add a second one:
``size`` leaves margin for that.

sqfast features: ``talib.RSI`` (RSI kernel), ``crossover()`` against a plain number (a constant
series), arithmetic on ``self.data.Close[-1]`` and class parameters, a limit order
``buy(size=..., limit=...)`` that stays pending until it fills, and ``self.rsi[-1]``.
"""

import talib
from backtesting import Strategy
from backtesting.lib import crossover


class RsiReversion(Strategy):
    period = 7
    oversold = 30
    exit_level = 50
    discount = 0.01
    size = 0.45

    def init(self):
        self.rsi = self.I(talib.RSI, self.data.Close, self.period)

    def next(self):
        if not self.position and crossover(self.oversold, self.rsi):
            self.buy(size=self.size, limit=self.data.Close[-1] * (1 - self.discount))
        elif self.position and self.rsi[-1] > self.exit_level:
            self.position.close()

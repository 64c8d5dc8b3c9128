"""Donchian channel breakout with stop entries.

When, while flat, the close breaks above the previous bar's ``entry_n``-bar channel top (highest
High), a stop buy is placed at the current channel top: it fills when a later bar trades
through it, at the greater of that bar's open and the stop (so a gap up fills at the open). The
position is closed when the close falls below the previous ``exit_n``-bar channel bottom (lowest
Low). A stop that has not triggered stays pending (backtesting.py never expires it); if the
channel has since moved down, a second stop can be placed and both may fill, adding to the
position, so ``size`` leaves margin for that (it happens twice on GOOG).

sqfast features: ``talib.MAX`` of High and ``talib.MIN`` of Low (extrema kernels on the High and
Low fields), the previous bar's indicator value ``self.upper[-2]``, a stop order
``buy(size=..., stop=...)`` that stays pending until it triggers, pyramided fills.
"""

import talib
from backtesting import Strategy


class DonchianBreakout(Strategy):
    entry_n = 20
    exit_n = 10
    size = 0.3

    def init(self):
        self.upper = self.I(talib.MAX, self.data.High, self.entry_n)
        self.exit_low = self.I(talib.MIN, self.data.Low, self.exit_n)

    def next(self):
        if not self.position:
            if self.data.Close[-1] > self.upper[-2]:
                self.buy(size=self.size, stop=self.upper[-1])
        elif self.data.Close[-1] < self.exit_low[-2]:
            self.position.close()

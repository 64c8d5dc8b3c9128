"""EMA crossover, long only: buy when the fast EMA crosses above the slow EMA, exit on the
opposite cross.

sqfast features: ``talib.EMA`` (EMA kernel), ``crossover()``, ``not self.position`` in an entry
condition and an exit guarded by ``if self.position:``. Its decisions read only indicators and
whether a position is open, never fill prices, so it places the same orders on the same bars
with ``trade_on_close=True`` (fills at this bar's close) as without (fills at the next open): a
fixture for checking both fill modes.
"""

import talib
from backtesting import Strategy
from backtesting.lib import crossover


class EmaCross(Strategy):
    fast = 12
    slow = 26

    def init(self):
        self.ema_fast = self.I(talib.EMA, self.data.Close, self.fast)
        self.ema_slow = self.I(talib.EMA, self.data.Close, self.slow)

    def next(self):
        if not self.position and crossover(self.ema_fast, self.ema_slow):
            self.buy()
        elif crossover(self.ema_slow, self.ema_fast):
            if self.position:
                self.position.close()

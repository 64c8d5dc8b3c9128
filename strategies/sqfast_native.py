"""SMA crossover written against sqfast's own base: it imports nothing from backtesting.py.

Goes long half the available margin when the 10-bar SMA of Close crosses above the 30-bar SMA;
closes when it crosses back below, or after four bars without an up bar (close above open).

sqfast features: ``from sqfast import Strategy`` and ``from sqfast.lib import SMA, barssince,
crossover``, so sqfast can check, translate and replay it where backtesting.py is not
installed. ``sqfast.lib.SMA`` maps to the SMA kernel and ``crossover``/``barssince`` compile like
backtesting.lib's. backtesting.py's ``Backtest`` accepts only its own ``Strategy`` subclasses, so
this file does not run under it as it stands; ``sqfast.strategy.to_backtesting(cls)`` makes a
backtesting.py class of it, which is how the tests compare it with backtesting.py.
"""

from sqfast import Strategy
from sqfast.lib import SMA, barssince, crossover


class SqfastNative(Strategy):
    fast = 10
    slow = 30

    def init(self):
        close = self.data.Close
        self.fast_sma = self.I(SMA, close, self.fast)
        self.slow_sma = self.I(SMA, close, self.slow)

    def next(self):
        if not self.position and crossover(self.fast_sma, self.slow_sma):
            self.buy(size=0.5)
        elif self.position and (crossover(self.slow_sma, self.fast_sma)
                                or barssince(self.data.Close > self.data.Open) >= 4):
            self.position.close()

"""SMA crossover: the original project's example strategy and sqfast's parity fixture.

Goes long a tenth of the available margin when the 10-bar SMA of Close crosses above the
20-bar SMA, and reverses to a full short when it crosses back below, closing the open position
first each time.

sqfast features: module-level ``LOOKBACK``, ``backtesting.test.SMA`` (SMA kernel),
``crossover()``, ``self.position.close()``, a fractional ``buy(size=0.1)`` and a full-size
``sell()`` that opens a short from flat. Keep this logic unchanged: it is the parity fixture
carried over from StrateQueue.
"""

from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA

LOOKBACK = 20


class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        close = self.data.Close
        self.sma1 = self.I(SMA, close, self.n1)
        self.sma2 = self.I(SMA, close, self.n2)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy(size=0.1)
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()

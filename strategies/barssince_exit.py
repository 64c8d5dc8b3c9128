"""Momentum burst with time and profit exits.

Buys after ``streak`` consecutive up bars (close above open) while above the ``trend``-bar
SMA. Exits at a profit of ``target`` percent, a loss of ``stop`` percent, or once ``hold`` bars
have passed since the last up bar.

sqfast features: ``barssince()`` of an element-wise condition on two data fields
(``self.data.Close > self.data.Open``), ``self.position.pl_pct`` (percent, as in
backtesting.py 0.6), ``or`` chains, comparisons with negated parameters.
"""

from backtesting import Strategy
from backtesting.lib import barssince
from backtesting.test import SMA


class BarssinceExit(Strategy):
    streak = 3
    hold = 3
    target = 6.0
    stop = 4.0
    trend = 50

    def init(self):
        self.sma = self.I(SMA, self.data.Close, self.trend)

    def next(self):
        if not self.position:
            if (
                barssince(self.data.Close <= self.data.Open) >= self.streak
                and self.data.Close[-1] > self.sma[-1]
            ):
                self.buy()
        elif (
            self.position.pl_pct > self.target
            or self.position.pl_pct < -self.stop
            or barssince(self.data.Close > self.data.Open) >= self.hold
        ):
            self.position.close()

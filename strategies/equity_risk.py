"""Volatility-shock entries sized from risk, with an equity-based loss limit.

A bar whose close-to-close move exceeds ``k`` ATRs opens a trade in the move's direction. The
fraction of margin is chosen so that a stop ``stop_atr`` ATRs away risks about ``risk`` of the
account, clamped to [``min_size``, ``max_size``]. Besides that stop, the position is closed when
its open loss exceeds ``max_loss`` of current equity or its open profit twice that.

sqfast features: ``self.equity``, ``self.position.pl``, ``abs``/``min``/``max``,
``self.data.Close[-2]`` (the previous close), ``talib.ATR`` on High/Low/Close (three inputs),
a computed fractional ``size=``, ``sl=`` on long and short market entries.
"""

import talib
from backtesting import Strategy


class EquityRisk(Strategy):
    atr_n = 14
    k = 2.0
    stop_atr = 2.0
    risk = 0.02
    min_size = 0.1
    max_size = 0.9
    max_loss = 0.03

    def init(self):
        self.atr = self.I(talib.ATR, self.data.High, self.data.Low, self.data.Close, self.atr_n)

    def next(self):
        close = self.data.Close[-1]
        move = close - self.data.Close[-2]
        atr = self.atr[-1]
        if not self.position:
            if abs(move) > self.k * atr:
                size = min(self.max_size, max(self.min_size, self.risk * close / (self.stop_atr * atr)))
                if move > 0:
                    self.buy(size=size, sl=close - self.stop_atr * atr)
                else:
                    self.sell(size=size, sl=close + self.stop_atr * atr)
        elif (
            self.position.pl < -self.max_loss * self.equity
            or self.position.pl > 2 * self.max_loss * self.equity
        ):
            self.position.close()

"""MACD signal-line cross: long when the MACD line crosses above its signal line while below
zero (a turn up from weakness); exit when it crosses back below.

sqfast features: TA-Lib functions with several outputs, one output per indicator through
``self.I(lambda x, ...: talib.MACD(x, ...)[k], ...)`` (MACD kernel, MACD and signal lines),
``crossover()`` between two indicators, ``self.macd[-1] < 0``, ``and``/``not``.
"""

import talib
from backtesting import Strategy
from backtesting.lib import crossover


class MacdSignal(Strategy):
    fast = 12
    slow = 26
    signal = 9

    def init(self):
        close = self.data.Close
        self.macd = self.I(
            lambda x, f, s, g: talib.MACD(x, f, s, g)[0],
            close,
            self.fast,
            self.slow,
            self.signal,
            name="MACD",
        )
        self.macd_signal = self.I(
            lambda x, f, s, g: talib.MACD(x, f, s, g)[1],
            close,
            self.fast,
            self.slow,
            self.signal,
            name="MACD signal",
        )

    def next(self):
        if not self.position and self.macd[-1] < 0 and crossover(self.macd, self.macd_signal):
            self.buy()
        elif self.position and crossover(self.macd_signal, self.macd):
            self.position.close()

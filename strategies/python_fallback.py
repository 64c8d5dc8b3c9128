"""Up-day breadth: a strategy sqfast runs through its Python fallback.

Counts the up closes among the last ``window`` bars with a ``for`` loop; buys when at least
``enter_ups`` of them were up and closes the position when at most ``exit_ups`` were.

sqfast feature: the Python fallback. The line ``for k in range(1, self.window + 1):`` in
``next()`` is a ``for`` loop, outside the compiled subset, so sqfast runs this ``next()`` in
Python per symbol on light proxies fed by its kernels, and ``sqfast check`` and the run's
start-up line name that line. It also has no indicators, so ``next()`` starts on bar 1 and
guards short histories with ``len(self.data)``.
"""

from backtesting import Strategy


class PythonFallback(Strategy):
    window = 10
    enter_ups = 8
    exit_ups = 3

    def init(self):
        pass

    def next(self):
        if len(self.data) <= self.window:
            return
        ups = 0
        for k in range(1, self.window + 1):
            if self.data.Close[-k] > self.data.Close[-k - 1]:
                ups += 1
        if not self.position and ups >= self.enter_ups:
            self.buy()
        elif self.position and ups <= self.exit_ups:
            self.position.close()

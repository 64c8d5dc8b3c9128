"""The Python fallback: run a strategy's real `next()` for one symbol, bar by bar, on light
proxies — the bars so far, the indicator values so far, and a simulated sub-account.

backtesting.py's `Strategy.buy/sell/position/equity/trades/orders` only talk to `self._broker`
and read `self._data`, so an instance of the user's own class runs unchanged on these proxies.
"""

from dataclasses import dataclass

import numpy as np

from .compile.graph import FIELDS
from .sim import SimAccount


@dataclass(frozen=True)
class PlacedOrder:
    """An order as `next()` placed it (before any fill), for the orders table and parity checks."""

    bar: int
    side: str  # "buy" or "sell"
    size: float
    limit: float | None
    stop: float | None
    sl: float | None
    tp: float | None


class BarsView:
    """`self.data` for the strategy: each field is the symbol's bars up to the current one."""

    def __init__(self, columns: dict[str, np.ndarray], index):
        self._columns = columns
        self._index = index
        self._length = 0

    def set_length(self, length: int) -> None:
        self._length = length

    def __getattr__(self, name: str):
        if name in FIELDS:
            return self._columns[name][: self._length]
        if name == "index":
            return self._index[: self._length]
        raise AttributeError(f"self.data.{name} is not available in sqfast (use Open/High/Low/Close/Volume)")

    def __len__(self) -> int:
        return self._length


class BrokerFacade:
    """What backtesting.py's `Strategy` expects of `self._broker`, backed by a `SimAccount`."""

    def __init__(self, account: SimAccount):
        self.account = account
        self.placed: list[PlacedOrder] = []
        self.bar = 0

    def new_order(self, size, limit=None, stop=None, sl=None, tp=None, tag=None):
        side = "buy" if size > 0 else "sell"
        order = getattr(self.account, side)(abs(size), limit, stop, sl, tp, tag)
        self.placed.append(PlacedOrder(self.bar, side, abs(size), limit, stop, sl, tp))
        return order

    @property
    def equity(self) -> float:
        return self.account.equity

    @property
    def position(self):
        return self.account.position

    @property
    def orders(self):
        return self.account.orders

    @property
    def trades(self):
        return self.account.trades

    @property
    def closed_trades(self):
        return self.account.closed_trades


class PythonStep:
    """One symbol's strategy instance, driven bar by bar with its real `next()`."""

    def __init__(self, cls: type, params: dict, columns: dict[str, np.ndarray], index,
                 indicators: dict[str, np.ndarray], account: SimAccount):
        self.data = BarsView(columns, index)
        self.broker = BrokerFacade(account)
        self.indicators = indicators
        strategy = cls.__new__(cls)
        strategy._params = dict(params)
        for key, value in params.items():
            setattr(strategy, key, value)
        strategy._data = self.data
        strategy._broker = self.broker
        strategy._indicators = []
        self.strategy = strategy

    def advance(self, i: int) -> None:
        """Make bar `i` the current bar (data and indicators up to and including it)."""
        self.data.set_length(i + 1)
        self.broker.bar = i
        for attr, values in self.indicators.items():
            setattr(self.strategy, attr, values[..., : i + 1])

    def decide(self) -> None:
        """Run `next()` for the current bar; its orders go to the account."""
        self.strategy.next()

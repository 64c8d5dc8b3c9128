"""The Python fallback: run a strategy's real `next()` for one symbol, bar by bar, on light
proxies — the bars so far, the indicator values so far, and a simulated sub-account.

backtesting.py's `Strategy.buy/sell/position/equity/trades/orders` only talk to `self._broker`
and read `self._data`, so an instance of the user's own class runs unchanged on these proxies.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .compile.graph import FIELDS
from .sim import SimAccount


@dataclass(frozen=True)
class PlacedOrder:
    """An order as `next()` placed it (before any fill), for the orders table and parity checks.
    `position.close(portion)` with open trades is recorded as side "close", size `portion`."""

    bar: int
    side: str  # "buy", "sell" or "close"
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
        if name == "index" and self._index is not None:
            return self._index[: self._length]
        raise AttributeError(f"self.data.{name} is not available in sqfast (use Open/High/Low/Close/Volume)")

    def __len__(self) -> int:
        return self._length


Gate = Callable[[PlacedOrder], object]
"""Approves an order before it reaches the account (the live engine's risk checks): false refuses
it, True passes it, anything else passes it with that as the order's tag (a client order id)."""


def send(account: SimAccount, order: PlacedOrder, log: list[PlacedOrder], gate: Gate | None = None,
         tag: object = None) -> object | None:
    """Place `order` in `account` unless `gate` refuses it, and log it if placed. A close with no
    open trades would place nothing, so it is neither checked nor logged. Returns the account's
    order (None for a close or a refused order)."""
    if order.side == "close" and not account.trades:
        return None
    verdict = True if gate is None else gate(order)
    if not verdict:
        return None
    if verdict is not True:
        tag = verdict
    log.append(order)
    if order.side == "close":
        account.position.close(order.size)
        return None
    return getattr(account, order.side)(order.size, order.limit, order.stop, order.sl, order.tp, tag)


class PositionView:
    """`self.position` for the strategy: the account's position, with `close()` recorded."""

    def __init__(self, broker: "BrokerFacade"):
        self._broker = broker

    def close(self, portion: float = 1.0) -> None:
        broker = self._broker
        send(broker.account, PlacedOrder(broker.bar, "close", float(portion), None, None, None, None),
             broker.placed, broker.gate)

    def __getattr__(self, name: str):
        return getattr(self._broker.account.position, name)

    def __bool__(self) -> bool:
        return bool(self._broker.account.position)

    def __repr__(self) -> str:
        return repr(self._broker.account.position)


class BrokerFacade:
    """What backtesting.py's `Strategy` expects of `self._broker`, backed by a `SimAccount`."""

    def __init__(self, account: SimAccount):
        self.account = account
        self.placed: list[PlacedOrder] = []
        self.bar = 0
        self.position = PositionView(self)
        self.gate: Gate | None = None

    def new_order(self, size, limit=None, stop=None, sl=None, tp=None, tag=None):
        order = PlacedOrder(self.bar, "buy" if size > 0 else "sell", abs(size), limit, stop, sl, tp)
        return send(self.account, order, self.placed, self.gate, tag)

    @property
    def equity(self) -> float:
        return self.account.equity

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

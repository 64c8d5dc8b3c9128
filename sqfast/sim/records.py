"""The objects a strategy sees in a simulated account: pending orders, trades and the position.

They hold state only; every rule that changes them (fills, netting, cash) lives in
`sqfast.sim.broker.SimAccount`. Fields are read-only properties, as in backtesting.py, so a
strategy can inspect them but changes go through `close()` / `cancel()` and the `Trade.sl` /
`Trade.tp` setters.
"""

from __future__ import annotations

from math import copysign
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqfast.sim.broker import SimAccount

# What an order is for. Only "sl" and "tp" orders are contingent (bracket) orders.
ENTRY, STOP_LOSS, TAKE_PROFIT, CLOSE = "entry", "sl", "tp", "close"


class Order:
    """An order waiting in the account's queue (placed by `buy`/`sell`, a bracket or a close)."""

    __slots__ = ("_account", "_limit", "_pending", "_role", "_size", "_sl", "_stop", "_tag", "_tp", "_trade")

    def __init__(self, account: SimAccount, size: float, limit: float | None, stop: float | None,
                 sl: float | None, tp: float | None, tag: object, role: str = ENTRY,
                 trade: Trade | None = None) -> None:
        self._account = account
        self._size = size
        self._limit = limit
        self._stop = stop
        self._sl = sl
        self._tp = tp
        self._tag = tag
        self._role = role
        self._trade = trade
        self._pending = False  # True while the order sits in the account's queue

    @property
    def size(self) -> float:
        """Signed size: a fraction of available margin if |size| < 1, else whole units."""
        return self._size

    @property
    def limit(self) -> float | None:
        return self._limit

    @property
    def stop(self) -> float | None:
        """The stop price; None once it has been touched (the order is then a market/limit order)."""
        return self._stop

    @property
    def sl(self) -> float | None:
        return self._sl

    @property
    def tp(self) -> float | None:
        return self._tp

    @property
    def tag(self) -> object:
        return self._tag

    @property
    def parent_trade(self) -> Trade | None:
        """The trade a stop-loss, take-profit or close order acts on."""
        return self._trade

    @property
    def is_long(self) -> bool:
        return self._size > 0

    @property
    def is_short(self) -> bool:
        return self._size < 0

    @property
    def is_contingent(self) -> bool:
        """True for a trade's stop-loss or take-profit order."""
        return self._role == STOP_LOSS or self._role == TAKE_PROFIT

    def cancel(self) -> None:
        """Remove the order from the queue (a bracket order also leaves its trade's sl/tp)."""
        self._account._cancel_order(self)

    def __repr__(self) -> str:
        fields = [f"size={self._size:g}"]
        fields += [f"{name}={value:g}" for name, value in
                   (("limit", self._limit), ("stop", self._stop), ("sl", self._sl), ("tp", self._tp))
                   if value is not None]
        if self._role != ENTRY:
            fields.append(f"role={self._role}")
        if self._tag is not None:
            fields.append(f"tag={self._tag!r}")
        return f"<Order {' '.join(fields)}>"


class Trade:
    """An open or closed trade: a signed number of units bought or sold at one entry price."""

    __slots__ = ("_account", "_commissions", "_entry_bar", "_entry_price", "_exit_bar", "_exit_price",
                 "_size", "_sl_order", "_tag", "_tp_order")

    def __init__(self, account: SimAccount, size: float, entry_price: float, entry_bar: int,
                 tag: object) -> None:
        self._account = account
        self._size = size
        self._entry_price = entry_price
        self._entry_bar = entry_bar
        self._exit_price: float | None = None
        self._exit_bar: int | None = None
        self._sl_order: Order | None = None
        self._tp_order: Order | None = None
        self._tag = tag
        self._commissions = 0.0  # both legs' commissions, set when the trade closes

    @property
    def size(self) -> float:
        """Units; negative for a short trade."""
        return self._size

    @property
    def entry_price(self) -> float:
        """Fill price including the spread."""
        return self._entry_price

    @property
    def exit_price(self) -> float | None:
        return self._exit_price

    @property
    def entry_bar(self) -> int:
        return self._entry_bar

    @property
    def exit_bar(self) -> int | None:
        return self._exit_bar

    @property
    def tag(self) -> object:
        return self._tag

    @property
    def is_long(self) -> bool:
        return self._size > 0

    @property
    def is_short(self) -> bool:
        return not self._size > 0

    @property
    def is_open(self) -> bool:
        return self._exit_bar is None

    @property
    def sl(self) -> float | None:
        """The stop-loss price (kept after the trade closes; None on a partial-close record).

        Writable on an open trade, as in backtesting.py: a price replaces the stop-loss order (the
        new one goes to the front of the queue), None cancels it.
        """
        return self._sl_order._stop if self._sl_order is not None else None

    @sl.setter
    def sl(self, price: float | None) -> None:
        self._account._set_contingent(self, STOP_LOSS, price)

    @property
    def tp(self) -> float | None:
        """The take-profit price (kept after the trade closes; None on a partial-close record).

        Writable on an open trade, as in backtesting.py: a price replaces the take-profit order (the
        new one goes to the back of the queue), None cancels it.
        """
        return self._tp_order._limit if self._tp_order is not None else None

    @tp.setter
    def tp(self, price: float | None) -> None:
        self._account._set_contingent(self, TAKE_PROFIT, price)

    @property
    def commission(self) -> float:
        """Entry plus exit commission; 0 while the trade is open (charged to cash, not to `pl`)."""
        return self._commissions

    def _mark(self) -> float:
        """The price the trade is valued at: its exit price, or the account's last close."""
        return self._exit_price or self._account._close

    @property
    def value(self) -> float:
        return abs(self._size) * self._mark()

    @property
    def pl(self) -> float:
        """Profit or loss in cash; commissions count only once the trade is closed."""
        return self._size * (self._mark() - self._entry_price) - self._commissions

    @property
    def pl_pct(self) -> float:
        """Profit or loss as a fraction of the entry price (not a percentage, as in backtesting.py)."""
        gross = copysign(1, self._size) * (self._mark() / self._entry_price - 1)
        return gross - self._commissions / (abs(self._size) * self._entry_price)

    def close(self, portion: float = 1.0) -> None:
        """Queue a market order closing `portion` (0 < portion <= 1) of the trade, at least one unit."""
        self._account._queue_close(self, portion)

    def __repr__(self) -> str:
        bars = f"{self._entry_bar}-{'' if self._exit_bar is None else self._exit_bar}"
        return f"<Trade size={self._size:g} bars={bars} entry={self._entry_price:g}>"


class Position:
    """The account's net position: the sum of its open trades."""

    __slots__ = ("_account",)

    def __init__(self, account: SimAccount) -> None:
        self._account = account

    @property
    def size(self) -> int:
        """Net units; negative when short."""
        return sum(int(trade._size) for trade in self._account._trades)

    @property
    def pl(self) -> float:
        """Unrealised profit or loss of the open trades at the last close."""
        return self._account._unrealized_pl()

    @property
    def pl_pct(self) -> float:
        """Unrealised profit or loss in percent of the open trades' entry value."""
        invested = sum(abs(trade._size) * trade._entry_price for trade in self._account._trades)
        return (self.pl / invested) * 100 if invested else 0

    @property
    def is_long(self) -> bool:
        return self.size > 0

    @property
    def is_short(self) -> bool:
        return self.size < 0

    def __bool__(self) -> bool:
        return self.size != 0

    def close(self, portion: float = 1.0) -> None:
        """Queue the closing of `portion` of every open trade."""
        for trade in tuple(self._account._trades):
            trade.close(portion)

    def __repr__(self) -> str:
        return f"<Position size={self.size} trades={len(self._account._trades)}>"

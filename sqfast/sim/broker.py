"""The simulated broker: one (strategy, symbol) sub-account that fills orders by backtesting.py's rules.

A bar flows through an account in two steps, as in backtesting.py's `Backtest.run` loop:

1. `process_bar(i, open, high, low, close)` at the start of bar i: the orders queued during bar
   i-1's decision are filled or cancelled against bar i's prices, then the equity at bar i's close
   is recorded. Equity at or below zero closes the trades and stops the account
   (`out_of_money`).
2. The strategy decides, knowing bar i's close: `buy`, `sell`, `position.close`, `trade.close`,
   `order.cancel`, `trade.sl = price`, `trade.tp = price`. Nothing fills until the next
   `process_bar`.

The rules are backtesting.py 0.6.6's, reproduced in behaviour (tests/sim compares them with
backtesting.py itself), including these details a cleaner design might "fix" but that parity needs:

- A fractional size is sized at fill time from the margin available at that moment, valued at
  the *current* bar's close, with spread and with the commission of the fractional order size.
- An order's sl/tp are checked on the bar a market entry fills: the queue is processed again.
- A touched stop is cleared for good, even when its limit is not reached on that bar (if the
  queue is processed again on that bar, the order is then a plain limit order and may fill).
- A stop and limit both inside one bar: the limit is assumed reached first, so no fill then.
- `exclusive_orders` cancels pending orders by walking the queue while removing from it, so the
  order right after each cancelled one survives; bankruptcy closes trades the same way, so every
  second open trade survives it.
- With `trade_on_close`, market entries and close orders fill at the previous close and are dated
  to the previous bar; a stop-market entry starts from the previous close too but is dated to the
  current bar; sl/tp orders are never filled at the previous close.
- `finalize` processes the whole queue once more on the last bar, so orders placed in the last
  decision can open trades that stay open.

Per-bar work is proportional to the pending orders and open trades; an idle account only records
its equity.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from math import copysign, inf, isfinite
from numbers import Real

from sqfast.sim.records import CLOSE, STOP_LOSS, TAKE_PROFIT, Order, Position, Trade

FULL = 1 - sys.float_info.epsilon
"""The default order size: all of the available margin (backtesting.py's `_FULL_EQUITY`)."""

# Reasons recorded in `SimAccount.events`, where backtesting.py issues a warning.
NO_UNITS = "relative-sized order cancelled: margin too small for one unit"
NO_MARGIN = "order cancelled: insufficient margin"
SAME_BAR_BRACKET = "sl/tp reached on the bar its stop/limit entry filled: left for a later bar"
OUT_OF_MONEY = "equity <= 0: trades closed at the close, account stopped"

Commission = float | tuple[float, float] | Callable[[float, float], float]


def _price_or_none(value: float | None) -> float | None:
    """backtesting.py treats any false price (None, 0) as unset; anything else is a float."""
    return float(value) if value else None


class SimAccount:
    """One simulated sub-account with backtesting.py's order, fill, margin and commission rules.

    Options have backtesting.py's names and defaults. `commission` is a fraction of the traded
    value, a `(fixed, relative)` pair, or a callable `(order_size, price) -> cash`.
    """

    def __init__(self, *, cash: float = 10_000, spread: float = 0.0, commission: Commission = 0.0,
                 margin: float = 1.0, trade_on_close: bool = False, hedging: bool = False,
                 exclusive_orders: bool = False) -> None:
        if not isinstance(cash, Real) or not (0 < cash < inf):
            raise ValueError(f"cash must be a finite number > 0, got {cash!r}")
        if not isinstance(spread, Real) or not isfinite(spread):
            raise ValueError(f"spread must be a finite number (a fraction of the price), got {spread!r}")
        if not isinstance(margin, Real) or not (0 < margin <= 1):
            raise ValueError(f"margin must be in (0, 1] (1 / leverage), got {margin!r}")
        self._commission = _commission_function(commission)
        self._cash = float(cash)
        self._spread = spread
        self._leverage = 1 / margin
        self._trade_on_close = bool(trade_on_close)
        self._hedging = bool(hedging)
        self._exclusive = bool(exclusive_orders)

        self._orders: list[Order] = []
        self._trades: list[Trade] = []
        self._closed: list[Trade] = []
        self._position = Position(self)
        self.events: list[tuple[int, str]] = []
        """(bar, reason) for each order the broker cancelled or deferred, and for bankruptcy."""
        self._equity_bars: list[int] = []
        self._equity_values: list[float] = []
        self._out_of_money = False

        # The bar being processed; _prev_close is the close before it (trade_on_close fills there).
        self._bar: int | None = None
        self._open = self._high = self._low = self._close = self._prev_close = float("nan")

    # ------------------------------------------------------------------ state a strategy reads

    @property
    def position(self) -> Position:
        """The net position (truthy when non-zero); `position.close(portion)` queues closes."""
        return self._position

    @property
    def orders(self) -> tuple[Order, ...]:
        """Pending orders, in the order they will be processed."""
        return tuple(self._orders)

    @property
    def trades(self) -> tuple[Trade, ...]:
        """Open trades, oldest first."""
        return tuple(self._trades)

    @property
    def closed_trades(self) -> tuple[Trade, ...]:
        """Closed trades in closing order (a partial close is its own closed trade)."""
        return tuple(self._closed)

    @property
    def cash(self) -> float:
        """Cash after realised P&L and commissions (open trades' P&L is in `equity`)."""
        return self._cash

    @property
    def equity(self) -> float:
        """Cash plus the open trades' unrealised P&L at the last close (0 once out of money)."""
        if self._out_of_money:
            return 0.0
        return self._cash + self._unrealized_pl() if self._trades else self._cash

    @property
    def margin_available(self) -> float:
        """Equity minus the margin the open trades use (valued at the last close), at least 0."""
        used = sum(abs(trade._size) * self._close / self._leverage for trade in self._trades)
        return max(0, self.equity - used)

    @property
    def out_of_money(self) -> bool:
        """True once equity fell to 0 or below: the caller stops the strategy, as backtesting.py does."""
        return self._out_of_money

    @property
    def bar(self) -> int | None:
        """The index of the last processed bar."""
        return self._bar

    def equity_curve(self) -> tuple[list[int], list[float]]:
        """(bar indices, equity at each bar's close) for every processed bar."""
        return list(self._equity_bars), list(self._equity_values)

    def _unrealized_pl(self) -> float:
        units = sum(int(trade._size) for trade in self._trades)
        return self._close * units - sum(trade._size * trade._entry_price for trade in self._trades)

    # ------------------------------------------------------------------ decisions

    def buy(self, size: float = FULL, limit: float | None = None, stop: float | None = None,
            sl: float | None = None, tp: float | None = None, tag: object = None) -> Order:
        """Queue a long order; it is processed from the next bar on. See `sell` for the rules."""
        return self._place(1, size, limit, stop, sl, tp, tag)

    def sell(self, size: float = FULL, limit: float | None = None, stop: float | None = None,
             sl: float | None = None, tp: float | None = None, tag: object = None) -> Order:
        """Queue a short order; it is processed from the next bar on.

        `0 < size < 1` is a fraction of the margin available at fill time; `size >= 1` whole units.
        A long order needs `sl < (limit or stop or price) < tp`, a short one the mirror, where
        price is the last close with the spread applied. Raises ValueError otherwise.
        """
        return self._place(-1, size, limit, stop, sl, tp, tag)

    def _place(self, side: int, size: float, limit: float | None, stop: float | None,
               sl: float | None, tp: float | None, tag: object) -> Order:
        if self._out_of_money:
            raise RuntimeError("the account is out of money; it takes no more orders")
        if self._bar is None:
            raise RuntimeError("no bar processed yet: orders are placed after process_bar()")
        if not (isinstance(size, Real) and isfinite(size)
                and (0 < size < 1 or (size >= 1 and round(size) == size))):
            raise ValueError(f"size must be a fraction in (0, 1) of available margin or a whole number "
                             f"of units >= 1, got {size!r}")
        size = side * float(size)
        limit, stop, sl, tp = (_price_or_none(p) for p in (limit, stop, sl, tp))
        reference = limit or stop or self._spread_price(size, self._close)
        if side > 0 and not (sl or -inf) < reference < (tp or inf):
            raise ValueError(f"a long order needs sl ({sl}) < limit/stop/price ({reference}) < tp ({tp})")
        if side < 0 and not (tp or -inf) < reference < (sl or inf):
            raise ValueError(f"a short order needs tp ({tp}) < limit/stop/price ({reference}) < sl ({sl})")
        for name, price in (("sl", sl), ("tp", tp)):
            if price is not None and not price > 0:
                raise ValueError(f"{name} must be a price > 0, got {price!r}")

        if self._exclusive:
            self._cancel_for_exclusive()
            for trade in self._trades:
                self._queue_close(trade, 1.0)

        order = Order(self, size, limit, stop, sl, tp, tag)
        self._enqueue(order, front=False)
        return order

    def _cancel_for_exclusive(self) -> None:
        """Cancel the non-bracket orders as backtesting.py does: it removes orders from the queue
        while walking it, so the order that moves into a removed order's slot is skipped."""
        k = 0
        while k < len(self._orders):
            order = self._orders[k]
            if not order.is_contingent:
                self._cancel_order(order)
            k += 1

    def _queue_close(self, trade: Trade, portion: float) -> None:
        """Put a market order closing `portion` of `trade` at the front of the queue."""
        if not (isinstance(portion, Real) and 0 < portion <= 1):
            raise ValueError(f"portion must be a fraction in (0, 1], got {portion!r}")
        size = copysign(max(1, round(abs(trade._size) * portion)), -trade._size)
        self._enqueue(Order(self, size, None, None, None, None, trade._tag, CLOSE, trade), front=True)

    def _set_contingent(self, trade: Trade, role: str, price: float | None) -> None:
        """`trade.sl = price` / `trade.tp = price`, as backtesting.py's setters: the price must be
        None or in (0, inf); the trade's current order of that role is cancelled, and a price
        places a new one (sized to close the whole trade) on the same terms as an entry's sl/tp."""
        if self._out_of_money:
            raise RuntimeError("the account is out of money; it takes no more orders")
        if price is not None and not (isinstance(price, Real) and 0 < price < inf):
            raise ValueError(f"{role} must be None or a price in (0, inf), got {price!r}")
        if trade._account is not self or trade._exit_bar is not None or trade not in self._trades:
            raise ValueError(f"{role} can only be set on an open trade of this account, not {trade!r}")
        current = trade._sl_order if role == STOP_LOSS else trade._tp_order
        if current is not None:
            self._cancel_order(current)
        if price:
            self._place_bracket(trade, role, float(price))

    def _place_bracket(self, trade: Trade, role: str, price: float) -> None:
        """Queue a trade's stop-loss (at the front) or take-profit (at the back) order."""
        size, tag = -trade._size, trade._tag
        if role == STOP_LOSS:
            trade._sl_order = Order(self, size, None, price, None, None, tag, STOP_LOSS, trade)
            self._enqueue(trade._sl_order, front=True)
        else:
            trade._tp_order = Order(self, size, price, None, None, None, tag, TAKE_PROFIT, trade)
            self._enqueue(trade._tp_order, front=False)

    def _cancel_order(self, order: Order) -> None:
        if not order._pending:
            raise ValueError(f"{order!r} is not pending")
        self._dequeue(order)
        trade = order._trade
        if order._role == STOP_LOSS:
            trade._sl_order = None
        elif order._role == TAKE_PROFIT:
            trade._tp_order = None

    def _enqueue(self, order: Order, front: bool) -> None:
        order._pending = True
        if front:
            self._orders.insert(0, order)
        else:
            self._orders.append(order)

    def _dequeue(self, order: Order) -> None:
        order._pending = False
        self._orders.remove(order)

    # ------------------------------------------------------------------ bars

    def process_bar(self, i: int, open: float, high: float, low: float, close: float) -> None:
        """Fill or cancel the pending orders on bar i, then record the equity at bar i's close."""
        if self._bar is not None and i <= self._bar:
            raise ValueError(f"bars must be processed in increasing order: got {i} after {self._bar}")
        self._prev_close = self._close
        self._bar = i
        self._open, self._high, self._low, self._close = open, high, low, close
        if self._out_of_money:
            self._record_equity(0.0, replace=False)
            return
        self._settle(replace=False)

    def finalize(self, last_bar: int) -> None:
        """Close every open trade on the last bar, as backtesting.py does with finalize_trades=True.

        Close orders for all open trades go to the front of the queue and the whole queue is
        processed once more on the last bar's prices (so orders placed in the last decision can
        still fill there); the last equity value is replaced. Without finalize_trades,
        backtesting.py reports only the trades closed during the run: then do not call this.
        """
        if self._bar is None or self._out_of_money:
            return
        if last_bar != self._bar:
            raise ValueError(f"finalize({last_bar}) but the last processed bar is {self._bar}")
        for trade in reversed(self._trades):
            self._queue_close(trade, 1.0)
        self._settle(replace=True)

    def _settle(self, replace: bool) -> None:
        if self._orders:
            while self._process_queue():
                pass
        equity = self.equity
        if equity <= 0:
            self._go_bust()
            equity = 0.0
        self._record_equity(equity, replace)

    def _record_equity(self, equity: float, replace: bool) -> None:
        if replace and self._equity_bars and self._equity_bars[-1] == self._bar:
            self._equity_values[-1] = equity
        else:
            self._equity_bars.append(self._bar)
            self._equity_values.append(equity)

    def _go_bust(self) -> None:
        """Close the trades at the close and stop. backtesting.py removes each closed trade from
        the list it is walking, so every second trade stays open (and out of the closed trades)."""
        k = 0
        while k < len(self._trades):
            self._close_trade(self._trades[k], self._close, self._bar)
            k += 1
        self._cash = 0.0
        self._out_of_money = True
        self.events.append((self._bar, OUT_OF_MONEY))

    def _process_queue(self) -> bool:
        """One pass over the queue. Returns True if the pass must be repeated on the same bar
        (a new trade's sl/tp may already be reached on it)."""
        bar, open_, high, low = self._bar, self._open, self._high, self._low
        again = False
        for order in tuple(self._orders):
            if not order._pending:  # removed earlier in this pass, e.g. with its trade
                continue
            long = order._size > 0

            # A stop that is touched turns the order into a market or limit order for good.
            stop = order._stop
            if stop is not None:
                if not (high >= stop if long else low <= stop):
                    continue
                order._stop = None

            limit = order._limit
            if limit is not None:
                if not (low <= limit if long else high >= limit):
                    continue
                # Stop and limit both inside this bar: assume the limit came first, so no fill.
                if stop is not None and (limit <= stop if long else limit >= stop):
                    continue
                start = open_ if stop is None else stop
                price = min(start, limit) if long else max(start, limit)
            else:
                at_prev_close = self._trade_on_close and not order.is_contingent
                price = self._prev_close if at_prev_close else open_
                if stop is not None:
                    price = max(price, stop) if long else min(price, stop)

            is_market = limit is None and stop is None
            fill_bar = bar - 1 if is_market and self._trade_on_close and not order.is_contingent else bar

            if order._trade is not None:
                self._fill_exit(order, price, stop, fill_bar)
            elif self._fill_entry(order, price, stop, fill_bar, is_market):
                again = True
        return again

    def _fill_exit(self, order: Order, price: float, stop: float | None, fill_bar: int) -> None:
        """A stop-loss, take-profit or close order: reduce or close its trade."""
        trade = order._trade
        if trade._exit_bar is None:  # still open (an earlier close order may have closed it)
            units = copysign(min(abs(trade._size), abs(order._size)), order._size)
            self._reduce_trade(trade, price, units, fill_bar)
            if order._role == STOP_LOSS:
                order._stop = stop  # the trade keeps showing its stop-loss price
        if order._role == CLOSE:
            self._dequeue(order)  # a bracket order left the queue with its trade

    def _fill_entry(self, order: Order, price: float, stop: float | None, fill_bar: int,
                    is_market: bool) -> bool:
        """A stand-alone order: net against opposite trades, check margin, open a trade.
        Returns True if the queue must be processed again on this bar."""
        size = order._size
        long = size > 0
        fill_price = self._spread_price(size, price)
        unit_cost = fill_price + self._commission(size, price) / abs(size)
        if -1 < size < 1:
            size = copysign(int((self.margin_available * self._leverage * abs(size)) // unit_cost), size)
            if not size:
                self.events.append((self._bar, NO_UNITS))
                self._dequeue(order)
                return False
        units = int(size)

        if not self._hedging:  # close or reduce opposite trades first, oldest first
            for trade in tuple(self._trades):
                if (trade._size > 0) == long:
                    continue
                if abs(units) >= abs(trade._size):
                    self._close_trade(trade, price, fill_bar)
                    units += trade._size
                else:
                    self._reduce_trade(trade, price, units, fill_bar)
                    units = 0
                if not units:
                    break

        if abs(units) * unit_cost > self.margin_available * self._leverage:
            self.events.append((self._bar, NO_MARGIN))
            self._dequeue(order)
            return False

        again = False
        if units:
            self._open_trade(fill_price, units, order._sl, order._tp, fill_bar,
                             order._tag)
            sl, tp = order._sl, order._tp
            if sl or tp:
                if is_market:
                    again = True
                elif stop is not None and order._limit is None and tp and (
                        (long and tp <= self._high and (sl or -inf) < self._low)
                        or (not long and tp >= self._low and (sl or inf) > self._high)):
                    # A stop entry and its tp move the same way: the tp can fill on this bar.
                    again = True
                elif self._low <= (sl or -inf) <= self._high or self._low <= (tp or -inf) <= self._high:
                    self.events.append((self._bar, SAME_BAR_BRACKET))
        self._dequeue(order)
        return again

    # ------------------------------------------------------------------ trades and cash

    def _spread_price(self, size: float, price: float) -> float:
        """The price a trade of this sign pays: the spread makes longs dearer and shorts cheaper."""
        return price * (1 + copysign(self._spread, size))

    def _open_trade(self, price: float, units: float, sl: float | None, tp: float | None, bar: int,
                    tag: object) -> None:
        trade = Trade(self, units, price, bar, tag)
        self._trades.append(trade)
        self._cash -= self._commission(units, price)
        if tp:
            self._place_bracket(trade, TAKE_PROFIT, tp)
        if sl:  # stop-losses go first in the queue
            self._place_bracket(trade, STOP_LOSS, sl)

    def _reduce_trade(self, trade: Trade, price: float, units: float, bar: int) -> None:
        """Close `units` (signed against the trade) of `trade`: all of it, or a split-off part
        that becomes its own closed trade while the rest stays open with its sl/tp."""
        left = trade._size + units
        if not left:
            self._close_trade(trade, price, bar)
            return
        trade._size = left
        for bracket in (trade._sl_order, trade._tp_order):
            if bracket is not None:
                bracket._size = -left
        part = Trade(self, -units, trade._entry_price, trade._entry_bar, trade._tag)
        self._book_exit(part, price, bar)

    def _close_trade(self, trade: Trade, price: float, bar: int) -> None:
        self._trades.remove(trade)
        for bracket in (trade._sl_order, trade._tp_order):
            if bracket is not None:
                self._dequeue(bracket)
        self._book_exit(trade, price, bar)

    def _book_exit(self, trade: Trade, price: float, bar: int) -> None:
        """Record a closed trade and settle it in cash; commission is charged on both legs."""
        trade._exit_price = price
        trade._exit_bar = bar
        self._closed.append(trade)
        exit_commission = self._commission(trade._size, price)
        self._cash += trade.pl - exit_commission
        trade._commissions = exit_commission + self._commission(trade._size, trade._entry_price)


def _commission_function(commission: Commission) -> Callable[[float, float], float]:
    """Commission as a callable `(signed size, price) -> cash`, validated."""
    if callable(commission):
        return commission
    if isinstance(commission, tuple):
        if len(commission) != 2:
            raise ValueError(f"commission as a tuple must be (fixed, relative), got {commission!r}")
        fixed, relative = commission
    else:
        fixed, relative = 0, commission
    if not isinstance(fixed, Real) or not isinstance(relative, Real):
        raise ValueError(f"commission must be a number, a (fixed, relative) pair or a callable, "
                         f"got {commission!r}")
    if not fixed >= 0:
        raise ValueError(f"fixed commission must be >= 0 cash, got {fixed!r}")
    if not -0.1 <= relative < 0.1:
        raise ValueError(f"relative commission must be in [-0.1, 0.1) (negative: a rebate), got {relative!r}")

    def commission_cost(size: float, price: float) -> float:
        return fixed + abs(size) * price * relative

    return commission_cost

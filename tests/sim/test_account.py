"""SimAccount's own surface: options, errors, the bar protocol and small worked examples.

Fill rules are held to backtesting.py by test_broker_parity.py; these tests cover what parity
cannot see (validation messages, misuse, the out-of-money flag, read-only views).
"""

import inspect
import math

import pytest
from backtesting import Backtest, Strategy

from sqfast.sim import FULL, NO_UNITS, OUT_OF_MONEY, SimAccount

OPTIONS = ("cash", "spread", "commission", "margin", "trade_on_close", "hedging", "exclusive_orders")


def test_options_have_backtesting_names_and_defaults():
    ours = inspect.signature(SimAccount).parameters
    theirs = inspect.signature(Backtest).parameters
    for name in OPTIONS:
        assert ours[name].default == theirs[name].default, name
    assert FULL == Strategy._FULL_EQUITY


@pytest.mark.parametrize(("options", "message"), [
    ({"cash": 0}, "cash"),
    ({"cash": math.nan}, "cash"),
    ({"margin": 0}, "margin"),
    ({"margin": 1.5}, "margin"),
    ({"spread": "1%"}, "spread"),
    ({"commission": 0.2}, "relative commission"),
    ({"commission": (-1, 0.0)}, "fixed commission"),
    ({"commission": (1, 2, 3)}, "tuple"),
    ({"commission": "0.1"}, "commission"),
])
def test_bad_options_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        SimAccount(**options)


def test_callable_commission_is_used_as_given():
    calls = []
    account = SimAccount(commission=lambda size, price: calls.append((size, price)) or 1.0)
    account.process_bar(1, 100, 101, 99, 100)
    account.buy(size=3)
    account.process_bar(2, 100, 101, 99, 100)
    assert (3, 100) in calls and account.cash == 10_000 - 1.0


def _ready(**options) -> SimAccount:
    account = SimAccount(**options)
    account.process_bar(1, 100.0, 101.0, 99.0, 100.0)
    return account


def test_orders_need_a_processed_bar():
    with pytest.raises(RuntimeError, match="process_bar"):
        SimAccount().buy()


@pytest.mark.parametrize("size", [0, -1, 1.5, -0.5, math.nan, math.inf, "1"])
def test_bad_sizes_raise_value_error(size):
    with pytest.raises(ValueError, match="size"):
        _ready().buy(size=size)


@pytest.mark.parametrize(("method", "prices"), [
    ("buy", {"sl": 101}), ("buy", {"tp": 99}), ("buy", {"limit": 95, "sl": 96}),
    ("sell", {"sl": 99}), ("sell", {"tp": 101}), ("sell", {"stop": 95, "tp": 96}),
])
def test_sl_and_tp_on_the_wrong_side_raise_value_error(method, prices):
    with pytest.raises(ValueError, match="needs"):
        getattr(_ready(), method)(**prices)


def test_a_false_price_means_unset():
    order = _ready().buy(limit=0, stop=None, sl=0, tp=0)
    assert (order.limit, order.stop, order.sl, order.tp) == (None, None, None, None)


def test_bars_must_increase_and_finalize_names_the_last_bar():
    account = _ready()
    with pytest.raises(ValueError, match="increasing"):
        account.process_bar(1, 100, 101, 99, 100)
    with pytest.raises(ValueError, match="last processed bar"):
        account.finalize(7)


def test_an_idle_account_only_records_equity():
    account = SimAccount(cash=500)
    for i in range(1, 6):
        account.process_bar(i, 10, 11, 9, 10)
    assert account.equity_curve() == ([1, 2, 3, 4, 5], [500] * 5)
    assert not account.position and account.orders == () and account.events == []


def test_a_market_order_fills_at_the_next_open_and_closes_at_the_one_after():
    account = _ready()
    order = account.buy(size=10, tp=120, tag="x")
    assert account.orders == (order,) and not account.position
    account.process_bar(2, 102.0, 103.0, 101.0, 102.5)
    (trade,) = account.trades
    assert (trade.size, trade.entry_bar, trade.entry_price, trade.tp, trade.tag) == (10, 2, 102.0, 120, "x")
    assert account.position.size == 10 and account.position.pl == 5.0 and account.equity == 10_005.0
    account.position.close()
    account.process_bar(3, 104.0, 105.0, 103.0, 104.0)
    (closed,) = account.closed_trades
    assert (closed.exit_bar, closed.exit_price, closed.pl) == (3, 104.0, 20.0)
    assert account.orders == () and account.cash == 10_020.0


def test_a_fraction_too_small_for_one_unit_is_cancelled_with_an_event():
    account = _ready(cash=50)
    account.buy(size=0.1)
    account.process_bar(2, 100.0, 101.0, 99.0, 100.0)
    assert account.trades == () and account.events == [(2, NO_UNITS)]


def test_going_bust_stops_the_account():
    account = _ready(margin=0.02)
    account.buy()
    account.process_bar(2, 100.0, 100.0, 90.0, 90.0)
    assert account.out_of_money and account.equity == 0.0 and account.cash == 0.0
    assert account.events[-1] == (2, OUT_OF_MONEY)
    account.process_bar(3, 90.0, 91.0, 89.0, 90.0)
    assert account.equity_curve()[1][-2:] == [0.0, 0.0]
    with pytest.raises(RuntimeError, match="out of money"):
        account.sell()
    account.finalize(3)  # nothing to do once out of money


def test_views_are_read_only_and_cancel_works_once():
    account = _ready()
    order = account.buy(limit=90)
    with pytest.raises(AttributeError):
        order.size = 5
    order.cancel()
    assert account.orders == ()
    with pytest.raises(ValueError, match="not pending"):
        order.cancel()


def test_cancelling_a_stop_loss_removes_it_from_the_trade():
    account = _ready()
    account.buy(size=1, sl=90, tp=110)
    account.process_bar(2, 100.0, 101.0, 99.0, 100.0)
    (trade,) = account.trades
    sl_order = next(o for o in account.orders if o.stop == 90)
    assert sl_order.is_contingent and sl_order.parent_trade is trade
    sl_order.cancel()
    assert trade.sl is None and trade.tp == 110


def test_trade_sl_and_tp_setters_replace_or_cancel_the_bracket_orders():
    account = _ready()
    account.buy(size=2, limit=90)  # a pending entry, to see where the brackets are queued
    account.buy(size=1, tp=110)
    account.process_bar(2, 100.0, 101.0, 99.0, 100.0)
    (trade,) = account.trades
    entry, tp_order = account.orders
    trade.sl = 95  # a new stop-loss goes to the front of the queue, sized to close the trade
    sl_order = account.orders[0]
    assert account.orders == (sl_order, entry, tp_order)
    assert (sl_order.size, sl_order.stop, sl_order.is_contingent) == (-1, 95.0, True)
    assert sl_order.parent_trade is trade
    trade.tp = 120  # replaces the take-profit order, at the back
    assert trade.tp == 120 and account.orders[:2] == (sl_order, entry) and account.orders[2] is not tp_order
    trade.sl = 96.5
    assert trade.sl == 96.5 and len(account.orders) == 3 and account.orders[0] is not sl_order
    trade.tp = None
    assert trade.tp is None and [o.limit for o in account.orders] == [None, 90.0]
    # A stop-loss above the price is legal: it fills at the next open.
    trade.sl = 150
    account.process_bar(3, 104.0, 105.0, 103.0, 104.0)
    (closed,) = account.closed_trades
    assert (closed.exit_bar, closed.exit_price, closed.sl, closed.tp) == (3, 104.0, 150.0, None)


@pytest.mark.parametrize("price", [0, -1.0, math.nan, math.inf, "100"])
def test_an_invalid_sl_or_tp_price_raises_and_changes_nothing(price):
    account = _ready()
    account.buy(size=1, sl=90)
    account.process_bar(2, 100.0, 101.0, 99.0, 100.0)
    (trade,) = account.trades
    orders = account.orders
    for name in ("sl", "tp"):
        with pytest.raises(ValueError, match="must be None or a price"):
            setattr(trade, name, price)
    assert account.orders == orders and trade.sl == 90 and trade.tp is None


def test_sl_and_tp_are_set_only_on_open_trades_of_a_live_account():
    account = _ready(margin=0.02)
    account.buy(size=1)
    account.buy()
    account.process_bar(2, 100.0, 101.0, 99.0, 100.0)
    first = account.trades[0]
    account.position.close(0.5)
    account.process_bar(3, 100.0, 101.0, 99.0, 100.0)
    part = account.closed_trades[0]
    with pytest.raises(ValueError, match="open trade"):
        part.sl = 90
    account.process_bar(4, 50.0, 50.0, 40.0, 40.0)
    assert account.out_of_money
    with pytest.raises(RuntimeError, match="out of money"):
        first.tp = 200

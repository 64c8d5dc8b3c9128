"""SimAccount against backtesting.py 0.6.6 itself: the same decisions give the same trades and equity.

backtesting.py runs a strategy that places seeded random orders and logs them (tests/sim/parity.py);
the logged decisions are replayed through SimAccount bar by bar. Compared: the strategy's view
before every decision (equity, position, pending orders, open trades), which calls raised, every
closed trade (size, bars, prices, sl/tp, P&L, commission, tag), the equity curve, and the
orders the broker cancelled or deferred (backtesting.py's warnings). Each run must match to 1e-9
relative (it matches bit for bit today).

The mutation tests at the end prove the comparison has teeth: each plants one wrong rule in a
copy of the broker's source and requires the parity check to catch it.
"""

from pathlib import Path

import pytest

import sqfast.sim.broker as broker_module
from tests.sim.parity import Tally, check_parity, fixed_plus_relative

OPTION_SETS = {
    "commission-float": (("commission", 0.002),),
    "commission-tuple": (("commission", (1.0, 0.001)),),
    "commission-callable": (("commission", fixed_plus_relative),),
    "spread": (("spread", 0.001),),
    "margin-0.2": (("margin", 0.2),),
    "trade-on-close": (("trade_on_close", True),),
    "hedging": (("hedging", True),),
    "exclusive-orders": (("exclusive_orders", True),),
    "finalize-trades": (("finalize_trades", True),),
    "bust-with-hedged-trades": (("margin", 0.05), ("hedging", True)),
    "everything-but-exclusive": (("commission", 0.001), ("spread", 0.0005), ("margin", 0.5),
                                 ("trade_on_close", True), ("hedging", True), ("finalize_trades", True)),
    "exclusive-on-close-finalized": (("exclusive_orders", True), ("trade_on_close", True),
                                     ("finalize_trades", True), ("commission", (2.0, 0.0)),
                                     ("spread", 0.0002)),
}
SEEDS_PER_OPTION_SET = 10


def _walks(seeds):
    return [(f"walk{seed}", seed) for seed in seeds]


def test_random_walks_with_default_options():
    tally = Tally()
    for data_name, seed in _walks(range(40)):
        check_parity(data_name, seed, (), tally=tally)
    # Not vacuous: the runs trade a lot and reach every rule the broker reports.
    assert tally["runs"] == 40 and tally["bars"] > 14_000
    assert tally["trades"] > 5_000 and tally["calls"] > 8_000 and tally["raised"] > 300
    assert tally["exit at sl"] > 300 and tally["exit at tp"] > 300 and tally["no sl/tp"] > 1_000
    assert tally["call trade.sl"] > 200 and tally["call trade.tp"] > 200
    for reason in (broker_module.NO_UNITS, broker_module.NO_MARGIN, broker_module.SAME_BAR_BRACKET):
        assert tally[reason] > 50, reason


@pytest.mark.parametrize("options", OPTION_SETS.values(), ids=OPTION_SETS.keys())
def test_random_walks_with_options(options):
    tally = Tally()
    for data_name, seed in _walks(range(100, 100 + SEEDS_PER_OPTION_SET)):
        check_parity(data_name, seed, options, tally=tally)
    assert tally["trades"] > 100 and tally["raised"] > 10
    if dict(options).get("margin", 1) <= 0.05:
        assert tally["bust"] >= 3
    if dict(options).get("finalize_trades") and not dict(options).get("exclusive_orders"):
        assert tally["open at end"] <= 3  # only trades opened by the final re-run stay open


REFERENCE_RUNS = [
    ("GOOG", 1, ()),
    ("GOOG", 2, (("commission", 0.002), ("margin", 0.2), ("finalize_trades", True))),
    ("GOOG", 3, (("trade_on_close", True), ("exclusive_orders", True), ("spread", 0.001))),
    ("EURUSD", 1, ()),
    ("EURUSD", 2, (("spread", 0.0002), ("hedging", True), ("margin", 0.1), ("finalize_trades", True))),
]


@pytest.mark.parametrize(("data_name", "seed", "options"), REFERENCE_RUNS,
                         ids=[f"{d}-{s}" for d, s, _ in REFERENCE_RUNS])
def test_backtesting_test_data(data_name, seed, options):
    tally = Tally()
    check_parity(data_name, seed, options, tally=tally)
    assert tally["trades"] > 200


# ---------------------------------------------------------------------- the comparison has teeth

# (what is wrong, source text, wrong replacement, option set name or None for defaults)
MUTATIONS = [
    ("limit fills at its limit, never at a better open",
     "price = min(start, limit) if long else max(start, limit)", "price = limit", None),
    ("a touched stop is kept when the limit is not reached",
     "                order._stop = None\n", "                pass\n", None),
    ("no pessimism when stop and limit are both inside the bar",
     "if stop is not None and (limit <= stop if long else limit >= stop):",
     "if False:", None),
    ("a market entry's sl/tp wait for the next bar",
     "                if is_market:\n                    again = True",
     "                if is_market:\n                    again = False", None),
    ("a stop entry's take-profit waits for the next bar",
     "the tp can fill on this bar.\n                    again = True",
     "the tp can fill on this bar.\n                    again = False", None),
    ("fractions sized from equity instead of available margin",
     "int((self.margin_available * self._leverage", "int((self.equity * self._leverage", None),
    ("opposite orders are not netted FIFO",
     "if not self._hedging:  # close or reduce", "if False:  # close or reduce", None),
    ("stop-losses queue behind take-profits",
     "self._enqueue(trade._sl_order, front=True)", "self._enqueue(trade._sl_order, front=False)", None),
    ("the spread is ignored",
     "return price * (1 + copysign(self._spread, size))", "return price", "spread"),
    ("commission is charged only at exit",
     "        self._cash -= self._commission(units, price)\n", "", "commission-tuple"),
    ("trade_on_close fills are dated to the current bar",
     "fill_bar = bar - 1 if", "fill_bar = bar if", "trade-on-close"),
    ("trade_on_close market orders fill at the open",
     "price = self._prev_close if at_prev_close else open_", "price = open_", "trade-on-close"),
    ("finalize closes the newest trade first",
     "for trade in reversed(self._trades):", "for trade in self._trades:", "finalize-trades"),
    ("exclusive_orders cancels every pending order",
     "                self._cancel_order(order)\n            k += 1",
     "                self._cancel_order(order)\n                continue\n            k += 1",
     "exclusive-orders"),
    ("setting trade.sl keeps the old stop-loss order too",
     "        if current is not None:\n            self._cancel_order(current)\n", "", None),
    ("setting trade.sl / trade.tp to None keeps the order",
     "        if current is not None:\n", "        if current is not None and price:\n", None),
    ("bankruptcy closes every trade",
     "self._close_trade(self._trades[k], self._close, self._bar)\n            k += 1",
     "self._close_trade(self._trades[k], self._close, self._bar)", "bust-with-hedged-trades"),
]


def _mutant_account(old: str, new: str) -> type:
    source = Path(broker_module.__file__).read_text()
    assert source.count(old) == 1, f"mutation target not found exactly once: {old!r}"
    namespace = {"__name__": "sqfast.sim.broker_mutant"}
    exec(compile(source.replace(old, new), "broker_mutant.py", "exec"), namespace)
    return namespace["SimAccount"]


@pytest.mark.parametrize(("what", "old", "new", "option_set"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_a_wrong_rule_is_caught(what, old, new, option_set):
    mutant = _mutant_account(old, new)
    options = OPTION_SETS[option_set] if option_set else ()
    seeds = range(100, 100 + SEEDS_PER_OPTION_SET) if option_set else range(40)
    for data_name, seed in _walks(seeds):
        try:
            check_parity(data_name, seed, options, account_class=mutant)
        except AssertionError:
            return
    pytest.fail(f"parity did not notice: {what}")

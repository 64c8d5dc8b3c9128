"""The compiled replay loop (compiled step + compiled broker in one Numba call) gives exactly
what the step-per-time path with the Python broker gives — itself equal to backtesting.py — and
is itself compared with backtesting.py on every example strategy."""

from pathlib import Path
from types import SimpleNamespace

import pytest

import sqfast.replayer as replayer
from sqfast.compile.translate import compile_step
from sqfast.errors import SqfastError
from sqfast.replay_engine import BrokerOptions
from sqfast.replay_fast import run_fast
from tests.test_replay_parity import STRATEGIES, columns_of, compare, frames, report_for
from tests.test_runner import universe

ROOT = Path(__file__).resolve().parents[1]
COMPILED = [s for s in STRATEGIES if s != "python_fallback"]
OPTIONS = [{}, {"commission": 0.002, "finalize_trades": True}, {"spread": 0.001, "margin": 0.5},
           {"trade_on_close": True, "exclusive_orders": True, "hedging": True, "commission": (1.0, 0.001)}]


def replay_both(path: Path, options: dict, monkeypatch):
    fast = replayer.replay(path, universe(), **options)
    with monkeypatch.context() as patch:
        patch.setattr(replayer, "supported", lambda _: False)
        slow = replayer.replay(path, universe(), **options)
    return fast, slow


@pytest.mark.parametrize("options", OPTIONS,
                         ids=["default", "commission_finalize", "spread_margin", "toc_excl_hedge"])
@pytest.mark.parametrize("strategy", COMPILED)
def test_compiled_loop_equals_python_broker(strategy, options, monkeypatch):
    fast, slow = replay_both(ROOT / "strategies" / f"{strategy}.py", options, monkeypatch)
    assert fast.trades.equals(slow.trades)
    assert fast.orders.equals(slow.orders)
    for key, value in slow.summary.row(0, named=True).items():
        if isinstance(value, float):
            assert fast.summary[key][0] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        else:
            assert fast.summary[key][0] == value, key


@pytest.mark.parametrize("strategy", COMPILED)
def test_compiled_loop_equals_backtesting(strategy):
    """Twelve symbols with different timelines in one compiled loop, each equal to its own
    backtesting.py run."""
    report = report_for(strategy)
    named = list(frames())[:12]
    run = run_fast(report, compile_step(report), [(columns_of(f), f.index.to_numpy()) for _, f in named],
                   BrokerOptions(commission=0.001))
    for k, (name, frame) in enumerate(named):
        t = run.trades_of(k)
        closed = [SimpleNamespace(size=size, entry_bar=int(a), exit_bar=int(b), entry_price=p, exit_price=q)
                  for size, a, b, p, q in zip(t.size, t.entry_bar, t.exit_bar, t.entry_price, t.exit_price,
                                              strict=True)]
        ours = SimpleNamespace(orders=run.orders_of(k), trades=closed)
        compare(report, name, frame, {"commission": 0.001}, run=ours)


def test_an_order_backtesting_refuses_is_a_clear_error(tmp_path):
    path = tmp_path / "bad_sl.py"
    path.write_text(
        "from backtesting import Strategy\n"
        "from backtesting.test import SMA\n\n\n"
        "class BadStop(Strategy):\n"
        "    def init(self):\n"
        "        self.sma = self.I(SMA, self.data.Close, 5)\n\n"
        "    def next(self):\n"
        "        if not self.position:\n"
        "            self.buy(sl=self.data.Close[-1] * 1.5)\n")
    with pytest.raises(SqfastError, match=r"bad_sl\.py: next\(\) placed an order the broker refuses"):
        replayer.replay(path, universe())

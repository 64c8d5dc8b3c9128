"""The compiled step turns next() into straight-line code (guards, selects, one bit per order
call). These strategies use every control-flow form of the subset — nested if/elif/else, early
`return`, assignments and `+=` inside branches, `and`/`or` for their value, conditional
expressions, order arguments computed at run time — and must place the same orders and make the
same trades as backtesting.py's own run, compiled and in Python."""

import textwrap

import pytest

from sqfast.compile.analysis import analyse
from sqfast.compile.translate import compile_step
from tests.test_replay_parity import compare, frames

HEADER = """
from backtesting import Strategy
from backtesting.lib import barssince, crossover
from backtesting.test import SMA


class Flow(Strategy):
    n1 = 5
    n2 = 15

    def init(self):
        self.fast = self.I(SMA, self.data.Close, self.n1)
        self.slow = self.I(SMA, self.data.Close, self.n2)

    def next(self):
"""

BODIES = {
    "branches_and_return": """
        gap = self.fast[-1] - self.slow[-1]
        size = 0.2
        if gap > 0:
            size = 0.3
            if self.data.Close[-1] > self.data.Close[-2]:
                size += 0.1
        width = gap and abs(gap)
        pick = (self.fast[-1] > self.slow[-1]) or (self.data.Close[-1] > self.slow[-1])
        if not self.position:
            if gap > 0 and pick:
                self.buy(size=size)
                return
            if gap < 0:
                self.sell(size=size if width > 0.5 else 0.1)
            return
        if self.position.is_long and crossover(self.slow, self.fast):
            self.position.close()
        elif self.position.is_short and crossover(self.fast, self.slow):
            self.position.close(0.5)
            self.buy(size=0.1, sl=self.data.Close[-1] * 0.95)
""",
    "returns_in_both_arms": """
        if self.position.pl_pct > 0.04 or self.position.pl_pct < -0.03:
            self.position.close()
            return
        elif barssince(self.fast > self.slow) < 3:
            if self.position.size > 0:
                return
            self.buy(size=0.25, tp=self.data.Close[-1] * 1.05)
        else:
            level = min(self.fast[-1], self.slow[-1])
            if self.data.Close[-1] < level and not self.position.is_short:
                self.sell(size=0.2, limit=self.data.Close[-1] * 1.002)
""",
}


@pytest.fixture(params=sorted(BODIES))
def report(request, tmp_path):
    path = tmp_path / f"{request.param}.py"
    path.write_text(HEADER + textwrap.indent(textwrap.dedent(BODIES[request.param]), " " * 8))
    return analyse(path)


@pytest.mark.parametrize("mode", ["compiled", "python"])
def test_control_flow_matches_backtesting(report, mode):
    compiled = compile_step(report) if mode == "compiled" else None
    assert report.next_report.compiled and (mode == "python" or compiled is not None)
    orders = trades = 0
    # EURUSD's 4-decimal prices make its short SMAs tie exactly; the parity suite covers it
    for name, frame in [f for f in frames() if f[0] != "EURUSD"][:8]:
        placed, made = compare(report, name, frame, {"commission": 0.001}, compiled)
        orders, trades = orders + placed, trades + made
    assert orders > 20 and trades > 10, "too few decisions to prove anything"

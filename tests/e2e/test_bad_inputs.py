"""Every mistake in the portfolio file, the universe file or on the command line stops `sqfast run`
before anything starts: exit status 2, one line on stderr (`sqfast: error: ...`) naming the
file and line, or the key or flag, no traceback, and no run directory or journal created.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.helpers import STRATEGIES, one_error_line, sqfast

SMA = STRATEGIES / "sma_cross.py"
EMA = STRATEGIES / "ema_cross.py"


def portfolio(*, top: str = "", risk: str = "", strategies: str | None = None) -> str:
    """A valid portfolio (paper, demo, 1m, two symbols, max speed, 5 minutes) with extra lines."""
    if strategies is None:
        strategies = f'[[strategy]]\nid = "sma"\nfile = "{SMA}"\nallocation = 0.5\nparams = {{ n1 = 10 }}\n'
    return (f'data_source = "demo"\ngranularity = "1m"\nmode = "paper"\ncapital = 100_000\n'
            f'duration = "5m"\nspeed = "max"\nsymbols = ["AAPL", "MSFT"]\n{top}\n'
            f"[risk]\nmax_order_notional = 10_000\n{risk}\n{strategies}")


def strategy(file: Path | str, extra: str = "", allocation: float = 0.5, sid: str = "sma") -> str:
    return f'[[strategy]]\nid = "{sid}"\nfile = "{file}"\nallocation = {allocation}\n{extra}\n'


SYNTAX_ERROR = '''\
from backtesting import Strategy


class Broken(Strategy):
    def init(self):
        pass

    def next(self)
        pass
'''
SHORT_LOOKBACK = '''\
from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA

LOOKBACK = 5


class ShortLookback(Strategy):
    def init(self):
        self.fast = self.I(SMA, self.data.Close, 10)
        self.slow = self.I(SMA, self.data.Close, 20)

    def next(self):
        if crossover(self.fast, self.slow):
            self.buy()
'''
TWO_CLASSES = '''\
from backtesting import Strategy


class First(Strategy):
    def init(self):
        pass

    def next(self):
        pass


class Second(First):
    pass
'''

# id: (portfolio text or None, {file name: text}, arguments after `run`, fragments of the error line)
# In the arguments, "P" stands for the portfolio file.
CASES = {
    "unknown top-level key, did you mean": (
        portfolio(top='granulrity = "5m"'), {}, ["P"],
        ["portfolio.toml:8", "granulrity", "unknown key", "granularity"]),
    "wrong type": (
        portfolio().replace("capital = 100_000", 'capital = "lots"'), {}, ["P"],
        ["portfolio.toml:4", "capital", "expected a number", '"lots"']),
    "allocations over 1": (
        portfolio(strategies=strategy(SMA, allocation=0.6) + strategy(EMA, allocation=0.6, sid="ema")), {},
        ["P"],
        ["portfolio.toml:", "allocation", "add up to 1.2", "over 1"]),
    "unknown strategy file": (
        portfolio(strategies=strategy("strategies/nope.py")), {}, ["P"],
        ["portfolio.toml:14", "file", "strategy file not found", "nope.py"]),
    "unknown granularity": (
        portfolio(), {}, ["P", "--granularity", "7m"],
        ["--granularity", "unknown granularity '7m'", "1s"]),
    "unknown granularity in the file": (
        portfolio().replace('granularity = "1m"', 'granularity = "60s"'), {}, ["P"],
        ["portfolio.toml:2", "granularity", "'60s' as '1m'"]),
    "empty universe": (
        portfolio(), {"universe.txt": "# nothing yet\n\n   # still nothing\n"},
        ["P", "--symbols-file", "universe.txt"],
        ["universe.txt", "no symbols"]),
    "granularity the data source cannot serve": (
        portfolio(), {},
        ["P", "--data-source", "coinmarketcap", "--granularity", "1m", "--speed", "realtime"],
        ["--granularity", "coinmarketcap cannot serve 1m", "1h"]),
    "duplicate symbol with its lines": (
        portfolio(), {"universe.txt": "AAPL\nMSFT\n# comment\naapl\n"},
        ["P", "--symbols-file", "universe.txt"],
        ["universe.txt", "line 4", "duplicate symbol 'AAPL' (first on line 1)"]),
    "malformed symbols with their lines": (
        portfolio(), {"universe.txt": "AAPL\nBRK B\nMSFT\nBAD$\n"}, ["P", "--symbols-file", "universe.txt"],
        ["universe.txt", "2 problems", "line 2", "'BRK B'", "line 4", "'BAD$'"]),
    "malformed symbol in --symbols": (
        portfolio(), {}, ["P", "--symbols", "AAPL,MS FT"],
        ["--symbols", "item 2", "malformed symbol 'MS FT'"]),
    "duration without a unit": (
        portfolio(), {}, ["P", "--duration", "30"],
        ["--duration", "malformed duration '30'", "needs a unit"]),
    "duration as a number in the file": (
        portfolio().replace('duration = "5m"', "duration = 30"), {}, ["P"],
        ["portfolio.toml:5", "duration", '"30m"']),
    "--live without live mode": (
        portfolio(), {}, ["P", "--live"],
        ["--live", "the mode is paper"]),
    "live mode without --live": (
        portfolio(), {}, ["P", "--mode", "live"],
        ["--mode", "needs --live"]),
    "live mode in the file without --live": (
        portfolio().replace('mode = "paper"', 'mode = "live"'), {}, ["P"],
        ["portfolio.toml:3", "mode", "needs --live"]),
    "unknown --mode, did you mean": (
        portfolio(), {}, ["P", "--mode", "papr"],
        ["--mode", 'unknown mode "papr"', "paper"]),
    "unknown --speed": (
        portfolio(), {}, ["P", "--speed", "fast"],
        ["--speed", 'unknown speed "fast"']),
    "strategy parameter typo, did you mean": (
        portfolio(strategies=strategy(SMA, "params = { n1 = 10, n3 = 20 }")), {}, ["P"],
        ["sma_cross.py", "n3", "n2", "portfolio.toml:12"]),
    "strategy parameter of the wrong type": (
        portfolio(strategies=strategy(SMA, 'params = { n1 = "ten" }')), {}, ["P"],
        ["sma_cross.py", "n1", "portfolio.toml:12"]),
    "--lookback too short": (
        portfolio(), {}, ["P", "--lookback", "5"],
        ["sma_cross.py", "--lookback", "20 bars"]),
    "LOOKBACK too short": (
        portfolio(strategies=strategy("short.py")), {"short.py": SHORT_LOOKBACK}, ["P"],
        ["short.py", "LOOKBACK", "20 bars", "portfolio.toml:12"]),
    "strategy file with a syntax error": (
        portfolio(strategies=strategy("broken.py")), {"broken.py": SYNTAX_ERROR}, ["P"],
        ["broken.py:8", "portfolio.toml:12"]),
    "strategy file with two classes and no class key": (
        portfolio(strategies=strategy("two.py")), {"two.py": TWO_CLASSES}, ["P"],
        ["two.py", "First", "Second", "class"]),
    "invalid TOML": (
        portfolio(top="[[strategy]\n"), {}, ["P"],
        ["portfolio.toml:8", "invalid TOML"]),
    "unknown risk key": (
        portfolio(risk="max_order_notionl = 5"), {}, ["P"],
        ["portfolio.toml:11", "risk.max_order_notionl", "unknown key", "max_order_notional"]),
    "unknown strategy key": (
        portfolio(strategies=strategy(SMA, "alocation = 0.2")), {}, ["P"],
        ["portfolio.toml:16", "alocation", "unknown key", "allocation"]),
    "strategy granularity finer than the feed": (
        portfolio(strategies=strategy(SMA, 'granularity = "30s"')), {}, ["P"],
        ["portfolio.toml:16", "granularity", "30s is finer than the feed's 1m"]),
    "strategy symbol outside the universe": (
        portfolio(strategies=strategy(SMA, 'symbols = ["AAPL", "TSLA"]')), {}, ["P"],
        ["portfolio.toml:16", "symbols", "TSLA is not in the universe"]),
    "credential in the file": (
        portfolio(top='[source.polygon]\napi_key = "s3cr3t-value"'), {}, ["P"],
        ["portfolio.toml:9", "api_key", "credentials are never read"]),
    "unknown data source, did you mean": (
        portfolio(), {}, ["P", "--data-source", "polygn"],
        ["--data-source", 'unknown data source "polygn"', "polygon"]),
    "missing portfolio file": (
        None, {}, ["missing.toml"],
        ["missing.toml", "portfolio file not found"]),
    "--verbose with --quiet": (
        portfolio(), {}, ["P", "--verbose", "--quiet"],
        ["--verbose", "--quiet"]),
}


def run_case(root: Path, case: str):
    """Run one case in its own directory `root`; returns the finished process."""
    text, files, args, _ = CASES[case]
    root.mkdir()
    if text is not None:
        (root / "portfolio.toml").write_text(text)
    for name, content in files.items():
        (root / name).write_text(content)
    args = ["portfolio.toml" if a == "P" else a for a in args]
    return sqfast("run", *args, "--run-dir", "out", cwd=root, timeout=90)


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory):
    """Every selected case, run a few at a time (each is a ~1-2 s process, mostly imports)."""
    test = "test_bad_input_is_one_clear_line_and_starts_nothing"
    selected = [item.callspec.params["case"] for item in request.session.items
                if getattr(item, "originalname", None) == test]
    base = tmp_path_factory.mktemp("bad_inputs")
    roots = {case: base / f"case{k}" for k, case in enumerate(selected)}
    with ThreadPoolExecutor(max(2, min(4, os.cpu_count() or 2))) as pool:
        done = dict(zip(selected, pool.map(lambda case: run_case(roots[case], case), selected), strict=True))
    return {case: (roots[case], result) for case, result in done.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_line_and_starts_nothing(outcomes, case):
    root, result = outcomes[case]
    assert result.returncode == 2, (result.stdout[-2000:], result.stderr[-2000:])
    line = one_error_line(result.stderr)
    for fragment in CASES[case][3]:
        assert fragment in line, (fragment, line)
    assert "s3cr3t" not in line + result.stdout
    assert not (root / "out").exists() and not (root / "runs").exists()
    assert not list(root.rglob("journal.sqlite"))


def test_there_are_at_least_fifteen_distinct_bad_inputs():
    assert len(CASES) >= 15
    assert len({repr(case[:3]) for case in CASES.values()}) == len(CASES)

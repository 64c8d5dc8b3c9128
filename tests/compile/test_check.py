"""`sqfast check`: warm-up as backtesting.py runs it, the compiled-subset verdict with its line,
and the command as a user runs it."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from backtesting import Backtest
from backtesting.test import GOOG

from sqfast.compile.analysis import analyse
from sqfast.compile.loader import load_strategy
from sqfast.compile.subset import check_next
from sqfast.strategy import to_backtesting

ROOT = Path(__file__).resolve().parents[2]
STRATEGIES = sorted((ROOT / "strategies").glob("*.py"))


def first_next_bar(cls) -> int:
    """The 0-based bar on which backtesting.py first calls `next()` for `cls`."""
    seen = []

    class Probe(to_backtesting(cls)):
        def next(self):
            seen.append(len(self.data) - 1)

    Backtest(GOOG, Probe).run()
    return seen[0]


@pytest.mark.parametrize("path", STRATEGIES, ids=lambda p: p.stem)
def test_warmup_is_where_backtesting_first_runs_next(path):
    report = analyse(path)
    assert report.warmup + 1 == first_next_bar(report.loaded.cls)


def test_fallback_names_the_line_that_needs_python():
    path = ROOT / "strategies" / "python_fallback.py"
    report = analyse(path)
    expected_line = next(i for i, line in enumerate(path.read_text().splitlines(), 1)
                         if line.strip().startswith("for "))
    assert not report.next_report.compiled
    assert report.next_report.line == expected_line
    assert report.next_report.construct == "for statement"


@pytest.mark.parametrize("path", [p for p in STRATEGIES if p.stem != "python_fallback"], ids=lambda p: p.stem)
def test_other_examples_are_within_the_subset(path):
    assert analyse(path).next_report.compiled


NEXT_BODIES = [
    ("if crossover(self.fast, self.slow):\n    self.buy(size=0.1)", None),
    ("x = self.fast[-1] - self.slow[-2]\nif x > self.n and not self.position:\n    self.sell(sl=x)", None),
    ("if self.position.is_long and self.position.pl_pct > 2:\n    self.position.close(0.5)", None),
    ("if barssince(self.data.Close > self.fast) > 3 or self.equity < 5000:\n    self.position.close()", None),
    ("v = abs(self.data.Close[-1] - self.data.Open[-1])\nself.buy(size=max(1, min(v, 3)))", None),
    ("if len(self.data) > 100:\n    return\nself.buy()", None),
    ("for k in range(3):\n    pass", "for statement"),
    ("self.count = 1", "assignment to something other than a local name"),
    ("print(self.fast[-1])", "call to print() as a statement"),
    ("if self.fast[0] > 1:\n    self.buy()", "indexing self.fast"),
    ("self.buy(0.5)", "positional arguments to self.buy()"),
    ("self.buy(size=0.5, tag='x')", "self.buy(tag=...)"),
    ("if self.helper():\n    self.buy()", "call to self.helper()"),
    ("x = [1, 2]", "List expression"),
    ("if self.fast[-1] > self.missing:\n    self.buy()", "self.missing"),
    ("if undefined > 1:\n    self.buy()", "name 'undefined'"),
]


@pytest.mark.parametrize("body, construct", NEXT_BODIES)
def test_subset_verdicts(tmp_path, body, construct):
    source = textwrap.dedent('''
        from backtesting import Strategy
        from backtesting.lib import barssince, crossover
        from backtesting.test import SMA


        class S(Strategy):
            n = 3

            def init(self):
                self.fast = self.I(SMA, self.data.Close, 5)
                self.slow = self.I(SMA, self.data.Close, 10)

            def helper(self):
                return True

            def next(self):
        ''') + textwrap.indent(body, " " * 8) + "\n"
    path = tmp_path / "s.py"
    path.write_text(source)
    report = check_next(load_strategy(path).cls, {"fast", "slow"}, {"n"})
    if construct is None:
        assert report.compiled, report.construct
    else:
        assert not report.compiled
        assert construct in report.construct
        assert report.line == source.splitlines().index("    def next(self):") + 2


def sqfast(*args: str, cache: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"SQFAST_CACHE_DIR": str(cache)} if cache else {})}
    return subprocess.run([sys.executable, "-m", "sqfast.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env=env)


def test_check_command_prints_the_translation(tmp_path):
    result = sqfast("check", "strategies/sma_cross.py", "--param", "n1=5", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:-1] == [
        "strategies/sma_cross.py: SmaCross",
        "  parameters: n1=5, n2=20",
        "  indicators:",
        "    sma1: kernel sma(n=5); first value on bar 4",
        "    sma2: kernel sma(n=20); first value on bar 19",
        "  warm-up: 20 bars; next() first runs on bar 20; LOOKBACK = 20",
    ]
    assert re.fullmatch(r"  next\(\): compiled \(translated and compiled in \d+\.\d\d s\)", lines[-1])


def test_check_shows_each_pandas_form_as_its_kernel(tmp_path):
    result = sqfast("check", "strategies/pandas_rolling.py", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2:7] == [
        "  indicators:",
        "    mean: kernel sma(n=20); first value on bar 19",
        "    sd: kernel rolling_std(n=20); first value on bar 19",
        "    trend: kernel ewm(span=50); first value on bar 0",
        "  warm-up: 20 bars; next() first runs on bar 20",
    ]
    assert "  next(): compiled (" in result.stdout


def test_fallback_is_reported_by_check(tmp_path):
    result = sqfast("check", "strategies/python_fallback.py", cache=tmp_path)
    assert re.search(r"next\(\): Python fallback: strategies/python_fallback\.py:\d+: for statement",
                     result.stdout)


STEP_STATS = """
import sys
from sqfast.compile.analysis import analyse
from sqfast.compile.translate import compile_step
compiled = compile_step(analyse(sys.argv[1]))
print(compiled.from_cache, len(compiled.step.stats.cache_hits), len(compiled.step.stats.cache_misses))
"""


def test_second_process_reuses_the_compiled_step(tmp_path):
    """The generated module and Numba's machine code are both reused: nothing compiles again."""
    runs = [subprocess.run([sys.executable, "-c", STEP_STATS, "strategies/ema_cross.py"], cwd=ROOT, text=True,
                           capture_output=True, env={**os.environ, "SQFAST_CACHE_DIR": str(tmp_path)},
                           check=True).stdout.split() for _ in range(2)]
    assert runs[0] == ["False", "0", "1"]  # written and compiled
    assert runs[1] == ["True", "1", "0"]  # found, and loaded from Numba's cache
    assert len(list(tmp_path.glob("step_*.py"))) == 1


def test_changing_a_parameter_makes_a_new_step(tmp_path):
    for n1 in (5, 6, 5):
        result = sqfast("check", "strategies/sma_cross.py", "--param", f"n1={n1}", cache=tmp_path)
        assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.glob("step_*.py"))) == 2


@pytest.mark.parametrize("args, message", [
    (("check", "strategies/missing.py"), "strategies/missing.py: strategy file not found"),
    (("check", "strategies/sma_cross.py", "--param", "n3=1"), "has no parameter 'n3' (did you mean 'n"),
    (("check", "strategies/sma_cross.py", "--param", "n2=30"),
     "LOOKBACK = 20 is shorter than the warm-up its indicators need: 30 bars"),
    (("check", "strategies/sma_cross.py", "--lookback", "5"), "--lookback = 5 is shorter"),
    (("check", "strategies/sma_cross.py", "--param", "n1"), "expected --param NAME=VALUE"),
    (("check", "strategies/sma_cross.py", "--class", "Nope"), "no Strategy subclass named 'Nope'"),
])
def test_check_mistakes_are_one_line_and_exit_2(args, message):
    result = sqfast(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1

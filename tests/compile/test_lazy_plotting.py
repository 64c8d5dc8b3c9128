"""Loading a strategy does not import bokeh (backtesting.py's plotting), and plotting still works
in the same process: the stand-in hands over to the real module on first use."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, cwd: Path) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_loading_a_strategy_leaves_bokeh_unimported(tmp_path):
    out = _python(f"""
        import sys
        from sqfast.compile.analysis import analyse
        analyse({str(ROOT / 'strategies' / 'sma_cross.py')!r})
        print("backtesting" in sys.modules, "bokeh" in sys.modules)
        """, tmp_path)
    assert out.split() == ["True", "False"]


def test_plotting_after_a_deferred_import_uses_the_real_module(tmp_path):
    out = _python(f"""
        import sys
        from sqfast.compile.analysis import analyse
        from sqfast.compile.lazy_plotting import real_plotting
        analyse({str(ROOT / 'strategies' / 'sma_cross.py')!r})
        import backtesting
        from backtesting import Backtest
        from backtesting.test import GOOG
        from sqfast.compile.loader import load_strategy
        cls = load_strategy({str(ROOT / 'strategies' / 'sma_cross.py')!r}).cls
        backtesting.set_bokeh_output(notebook=False)
        bt = Backtest(GOOG.iloc[:300], cls, cash=100_000)
        bt.run()
        bt.plot(filename="plot.html", open_browser=False)
        print("bokeh" in sys.modules, real_plotting().__spec__ is not None)
        """, tmp_path)
    assert out.split() == ["True", "True"]
    assert (tmp_path / "plot.html").stat().st_size > 10_000

"""backtesting.py without bokeh until something plots.

Importing `backtesting` imports its `_plotting` module, and with it bokeh: about a second and
20 MB on the development VM, for every strategy file sqfast loads, although sqfast never plots.
`defer_plotting()` puts a stand-in for `backtesting._plotting` in `sys.modules` before the first
strategy import. It has the three functions backtesting.py imports from there (`plot`,
`plot_heatmaps`, `set_bokeh_output`); each one imports the real module on its first call and
hands over, so `Backtest.plot()` and friends still work in the same process.
"""

import importlib
import importlib.util
import sys
from types import ModuleType

MODULE = "backtesting._plotting"
FUNCTIONS = ("plot", "plot_heatmaps", "set_bokeh_output")


def defer_plotting() -> None:
    """Install the stand-in, unless backtesting.py is imported already or not installed."""
    if "backtesting" in sys.modules or MODULE in sys.modules:
        return
    if importlib.util.find_spec("backtesting") is None:
        return
    stand_in = ModuleType(MODULE, __doc__)
    for name in FUNCTIONS:
        setattr(stand_in, name, _deferred(name))
    sys.modules[MODULE] = stand_in


def real_plotting() -> ModuleType:
    """backtesting.py's own `_plotting` module, imported now if only the stand-in was."""
    module = sys.modules.get(MODULE)
    if module is None or module.__spec__ is None:  # the stand-in (or nothing) is there
        sys.modules.pop(MODULE, None)
        module = importlib.import_module(MODULE)
    return module


def _deferred(name: str):
    def call(*args, **kwargs):
        return getattr(real_plotting(), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"backtesting.py's `{name}`, imported on first use."
    return call

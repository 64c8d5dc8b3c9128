"""`sqfast.Strategy`: backtesting.py's strategy-facing API, so a strategy can be written (and
translated, checked and replayed by sqfast) without backtesting.py installed.

A subclass declares its parameters as class attributes, its indicators in `init()` with
`self.I(func, *args, **kwargs)` and its decisions in `next()`, exactly as with
`backtesting.Strategy`. sqfast runs it as it runs backtesting.py strategies: `init()` is recorded
on symbolic data, `next()` is translated or runs in Python on the same light proxies. Like
backtesting.py's base, this one reads its bars from `self._data` and talks to its broker through
`self._broker` (`new_order`, `equity`, `position`, `orders`, `trades`, `closed_trades`), which is
what sqfast's Python fallback provides.

`to_backtesting(cls)` turns such a class into a backtesting.py `Strategy` when backtesting.py is
installed, for running the same strategy under backtesting.py's own `Backtest`.
"""

import sys
from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from difflib import get_close_matches

import numpy as np

__all__ = ["Strategy", "to_backtesting"]


class Strategy(metaclass=ABCMeta):
    """Base class of a strategy; override `init()` and `next()`, as with backtesting.py's."""

    _FULL_EQUITY = 1 - sys.float_info.epsilon  # backtesting.py's default order size

    def __init__(self, broker, data, params: dict | None = None):
        self._indicators: list[np.ndarray] = []
        self._broker = broker
        self._data = data
        self._params = self._check_params(dict(params or {}))

    def __repr__(self) -> str:
        return f"<Strategy {self}>"

    def __str__(self) -> str:
        params = ",".join(f"{k}={v}" for k, v in self._params.items())
        return f"{type(self).__name__}({params})" if params else type(self).__name__

    def _check_params(self, params: dict) -> dict:
        for key, value in params.items():
            if not hasattr(self, key):
                close = get_close_matches(key, [a for a in dir(self) if not a.startswith("_")])
                hint = f" Did you mean: {', '.join(close)}?" if close else ""
                raise AttributeError(f"Strategy '{type(self).__name__}' is missing parameter '{key}'. "
                                     "Define parameters as class variables." + hint)
            setattr(self, key, value)
        return params

    def I(self, func: Callable, *args, name=None, plot=True, overlay=None, color=None,  # noqa: E743, N802
          scatter=False, **kwargs) -> np.ndarray:
        """Declare an indicator: `func(*args, **kwargs)` on the full arrays, one value per bar
        (or one row per line for several lines). `name`, `plot`, `overlay`, `color` and `scatter`
        are accepted for backtesting.py compatibility; sqfast does not plot."""
        value = func(*args, **kwargs)
        if hasattr(value, "columns") and hasattr(value, "to_numpy"):  # a DataFrame: one line per column
            value = value.to_numpy().T
        value = np.asarray(value, order="C")
        n_bars = len(self._data)
        if value.ndim == 2 and value.shape[0] == n_bars:
            value = value.T
        if not 1 <= value.ndim <= 2 or value.shape[-1] != n_bars:
            label = name or getattr(func, "__name__", repr(func))
            raise ValueError(f"indicator {label!r} must return one value per bar ({n_bars}), "
                             f"got shape {value.shape}")
        self._indicators.append(value)
        return value

    @abstractmethod
    def init(self) -> None:
        """Declare the indicators, with `self.I(...)`."""

    @abstractmethod
    def next(self) -> None:
        """Decide, once per bar, with the data and indicators up to the current bar."""

    def buy(self, *, size: float = _FULL_EQUITY, limit: float | None = None, stop: float | None = None,
            sl: float | None = None, tp: float | None = None, tag: object = None):
        """Place a long order: `size` is a fraction of available margin (0 < size < 1) or whole units."""
        _check_size(size)
        return self._broker.new_order(size, limit, stop, sl, tp, tag)

    def sell(self, *, size: float = _FULL_EQUITY, limit: float | None = None, stop: float | None = None,
             sl: float | None = None, tp: float | None = None, tag: object = None):
        """Place a short order; `size` as in `buy()`."""
        _check_size(size)
        return self._broker.new_order(-size, limit, stop, sl, tp, tag)

    @property
    def equity(self) -> float:
        """Current account equity (cash plus the value of open trades)."""
        return self._broker.equity

    @property
    def data(self):
        """The bars: `.Open/.High/.Low/.Close/.Volume`, each up to the current bar in `next()`."""
        return self._data

    @property
    def position(self):
        """The open position (true if any; `.size`, `.pl`, `.pl_pct`, `.is_long`, `.close()`)."""
        return self._broker.position

    @property
    def orders(self) -> tuple:
        """Orders waiting for execution."""
        return tuple(self._broker.orders)

    @property
    def trades(self) -> tuple:
        """Open trades."""
        return tuple(self._broker.trades)

    @property
    def closed_trades(self) -> tuple:
        """Settled trades."""
        return tuple(self._broker.closed_trades)


def _check_size(size: float) -> None:
    """backtesting.py's rule: a fraction of margin strictly between 0 and 1, or whole units >= 1."""
    if not (0 < size < 1 or round(size) == size >= 1):
        raise AssertionError("size must be a positive fraction of equity, "
                             "or a positive whole number of units")


def to_backtesting(cls: type) -> type:
    """`cls` as a backtesting.py `Strategy` with the same parameters, `init()` and `next()`
    (`cls` itself if it already is one). Needs backtesting.py installed."""
    import backtesting

    if issubclass(cls, backtesting.Strategy):
        return cls
    if not issubclass(cls, Strategy):
        raise TypeError(f"{cls.__name__} is neither a sqfast nor a backtesting.py Strategy")
    namespace = {"init": cls.init, "next": cls.next, "__module__": cls.__module__,
                 "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
    return type(cls.__name__, (backtesting.Strategy, cls), namespace)

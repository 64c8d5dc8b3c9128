"""Record a strategy's `init()`: run it once on an instance whose data fields and `self.I` build
a graph (`graph.py`) instead of computing, then map each indicator to a kernel."""

import traceback

from ..errors import StrategyError
from .graph import FIELDS, Field, Indicator
from .loader import LoadedStrategy
from .registry import match_kernel


class RecordingData:
    """Stands in for `self.data` during recording: `.Close` etc. are graph fields."""

    def __init__(self, path: str):
        self._path = path
        self._fields = {name: Field(name) for name in FIELDS}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._fields:
            return self._fields[name]
        raise StrategyError(self._path, f"init() reads self.data.{name}, which sqfast cannot translate",
                            hint="use self.data.Open/High/Low/Close/Volume")


def _line_in(path: str, err: BaseException) -> int | None:
    frames = traceback.extract_tb(err.__traceback__)
    return next((f.lineno for f in reversed(frames) if f.filename == path), None)


def record_init(loaded: LoadedStrategy) -> list[Indicator]:
    """Run `init()` of `loaded` on a recording instance; return its indicators in call order."""
    path = str(loaded.path)
    cls = loaded.cls
    instance = cls.__new__(cls)
    for key, value in loaded.params.items():
        setattr(instance, key, value)
    indicators: list[Indicator] = []

    def record_indicator(func, *args, name=None, plot=True, overlay=None, color=None, scatter=False,
                         **kwargs):
        if not callable(func):
            raise StrategyError(path, f"self.I() needs a function first, got {func!r}")
        indicator = Indicator(len(indicators), func, args, kwargs, name, scatter)
        indicator.kernel = match_kernel(func, args, kwargs)
        indicators.append(indicator)
        return indicator

    instance.__dict__["I"] = record_indicator
    instance._data = RecordingData(path)
    try:
        cls.init(instance)
    except StrategyError:
        raise
    except Exception as err:
        raise StrategyError(path, f"init() raised {type(err).__name__}: {err}", _line_in(path, err),
                            hint="sqfast records init() with symbolic data; see `sqfast check`") from None
    for attr, value in vars(instance).items():
        if isinstance(value, Indicator) and value.attr is None:
            value.attr = attr
    return indicators

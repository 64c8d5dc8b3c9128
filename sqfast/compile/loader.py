"""Load a strategy file: find its Strategy subclass, its parameters and `LOOKBACK`.

A strategy is any subclass of backtesting.py's `Strategy` or of `sqfast.Strategy`, its
compatible base. backtesting.py is not needed for the latter: its base is looked for only once
the file has imported it. The file may live anywhere; it is executed as a module of its own,
named after a hash of its path so two files never collide.
"""

import ast
import difflib
import hashlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from ..errors import StrategyError
from ..strategy import Strategy
from .lazy_plotting import defer_plotting

PARAM_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class LoadedStrategy:
    """A strategy class ready to record, with its parameters after overrides."""

    path: Path
    source: str
    cls: type
    params: dict[str, object]
    lookback: int | None = None
    overrides: dict[str, object] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.cls.__name__


def strategy_bases() -> tuple[type, ...]:
    """sqfast's `Strategy`, and backtesting.py's if it has been imported (a strategy subclassing it
    has imported it)."""
    backtesting = sys.modules.get("backtesting")
    base = getattr(backtesting, "Strategy", None) if backtesting is not None else None
    return (Strategy,) if base is None else (Strategy, base)


def strategy_parameters(cls: type) -> dict[str, object]:
    """Public class attributes of a strategy (and its bases below `Strategy`) that are plain values."""
    bases = strategy_bases()
    params: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if not issubclass(klass, bases) or klass in bases:
            continue
        for key, value in vars(klass).items():
            if not key.startswith("_") and isinstance(value, PARAM_TYPES):
                params[key] = value
    return params


def _execute(path: Path, source: str) -> ModuleType:
    defer_plotting()
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as err:
        raise StrategyError(str(path), f"syntax error: {err.msg}", err.lineno) from None
    name = "sqfast_strategy_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_loader(name, loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except Exception as err:
        sys.modules.pop(name, None)
        line = next((f.lineno for f in reversed(traceback.extract_tb(err.__traceback__))
                     if f.filename == str(path)), None)
        raise StrategyError(str(path), f"importing the strategy raised {type(err).__name__}: {err}",
                            line) from None
    return module


def _strategy_classes(module: ModuleType) -> list[type]:
    bases = strategy_bases()
    return [obj for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, bases) and obj not in bases
            and obj.__module__ == module.__name__]


def _choose_class(path: Path, classes: list[type], class_name: str | None) -> type:
    names = [c.__name__ for c in classes]
    if not classes:
        raise StrategyError(str(path), "no Strategy subclass found",
                            hint="define a class that subclasses sqfast.Strategy or backtesting.Strategy")
    if class_name is None:
        if len(classes) > 1:
            raise StrategyError(str(path), f"several Strategy subclasses: {', '.join(names)}",
                                hint="choose one with --class NAME")
        return classes[0]
    if class_name not in names:
        raise StrategyError(str(path), f"no Strategy subclass named {class_name!r}",
                            hint=did_you_mean(class_name, names))
    return classes[names.index(class_name)]


def did_you_mean(word: str, choices: list[str]) -> str:
    """A hint naming the closest choice, or listing them all."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    if close:
        return f"did you mean {close[0]!r}?"
    return "expected one of: " + (", ".join(sorted(choices)) or "(none)")


def _apply_overrides(path: Path, cls: type, params: dict[str, object],
                     overrides: dict[str, object]) -> dict[str, object]:
    merged = dict(params)
    for key, value in overrides.items():
        if key not in params:
            raise StrategyError(str(path), f"{cls.__name__} has no parameter {key!r}",
                                hint=did_you_mean(key, list(params)))
        default = params[key]
        if isinstance(default, bool) != isinstance(value, bool) or (
                isinstance(default, int | float) and not isinstance(value, int | float)):
            raise StrategyError(str(path), f"parameter {key!r} expects {type(default).__name__}, "
                                f"got {value!r}")
        merged[key] = value
    return merged


def _lookback(path: Path, module: ModuleType) -> int | None:
    value = getattr(module, "LOOKBACK", None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StrategyError(str(path), f"LOOKBACK must be a whole number of bars >= 0, got {value!r}")
    return value


def load_strategy(path: str | Path, class_name: str | None = None,
                  overrides: dict[str, object] | None = None) -> LoadedStrategy:
    """Load the strategy in `path`; raise `StrategyError` with file, line and fix on any mistake."""
    path = Path(path)
    if not path.is_file():
        raise StrategyError(str(path), "strategy file not found")
    source = path.read_text()
    module = _execute(path, source)
    cls = _choose_class(path, _strategy_classes(module), class_name)
    params = _apply_overrides(path, cls, strategy_parameters(cls), overrides or {})
    return LoadedStrategy(path, source, cls, params, _lookback(path, module), dict(overrides or {}))


def parse_param(text: str) -> tuple[str, object]:
    """`k=v` from the command line → `(k, value)`, the value read as a Python literal if it is one."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"expected --param NAME=VALUE, got {text!r}")
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = raw.strip()
    return key.strip(), value

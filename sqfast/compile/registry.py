"""Which kernel computes an indicator function: `backtesting.test.SMA` and `sqfast.lib.SMA`,
TA-Lib's functions, sqfast's own `<ind>_batch` functions, pandas rolling/ewm forms written as a
lambda or a one-line def, and such a function wrapping any of these (`forms.py`). Anything else
is a window node (recomputed on the window)."""

import math
from dataclasses import dataclass

from ..kernels.catalog import KernelSpec, all_specs
from . import forms


@dataclass(frozen=True)
class KernelCall:
    """A kernel standing in for an indicator function.

    `inputs` are the graph nodes fed to the kernel, in the kernel's input order; `lines` are the
    kernel outputs that make up the function's result, in the function's order.
    """

    spec: KernelSpec
    inputs: tuple
    params: dict
    lines: tuple[str, ...]

    def lookback(self) -> int:
        """Bars before the first value of every line (TA-Lib's lookback), on finite inputs."""
        by_output = dict(zip(self.spec.outputs, self.spec.lookback(**self.params), strict=True))
        return max(by_output[line] for line in self.lines)

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        lines = "" if self.lines == self.spec.outputs else f" -> {', '.join(self.lines)}"
        return f"{self.spec.name}({args}){lines}"


# TA-Lib name -> (kernel, TA-Lib parameter -> kernel parameter, kernel outputs in TA-Lib's order,
# parameters that must keep a value for the mapping to hold (moving-average types: SMA only))
_TALIB: dict[str, tuple[str, dict[str, str], tuple[str, ...] | None, dict[str, object]]] = {
    "SMA": ("sma", {"timeperiod": "n"}, None, {}),
    "EMA": ("ema", {"timeperiod": "n"}, None, {}),
    "WMA": ("wma", {"timeperiod": "n"}, None, {}),
    "DEMA": ("dema", {"timeperiod": "n"}, None, {}),
    "TEMA": ("tema", {"timeperiod": "n"}, None, {}),
    "KAMA": ("kama", {"timeperiod": "n"}, None, {}),
    "RSI": ("rsi", {"timeperiod": "n"}, None, {}),
    "MACD": ("macd", {"fastperiod": "fast", "slowperiod": "slow", "signalperiod": "signal"}, None, {}),
    "ROC": ("roc", {"timeperiod": "n"}, None, {}),
    "MOM": ("mom", {"timeperiod": "n"}, None, {}),
    "STOCH": ("stoch", {"fastk_period": "fastk_period", "slowk_period": "slowk_period",
                        "slowd_period": "slowd_period"}, None, {"slowk_matype": 0, "slowd_matype": 0}),
    "STOCHRSI": ("stochrsi", {"timeperiod": "n", "fastk_period": "fastk_period",
                              "fastd_period": "fastd_period"}, None, {"fastd_matype": 0}),
    "WILLR": ("willr", {"timeperiod": "n"}, None, {}),
    "CCI": ("cci", {"timeperiod": "n"}, None, {}),
    "MFI": ("mfi", {"timeperiod": "n"}, None, {}),
    "TRANGE": ("trange", {}, None, {}),
    "ATR": ("atr", {"timeperiod": "n"}, None, {}),
    "NATR": ("natr", {"timeperiod": "n"}, None, {}),
    "ADX": ("adx", {"timeperiod": "n"}, ("adx",), {}),
    "PLUS_DI": ("adx", {"timeperiod": "n"}, ("plus_di",), {}),
    "MINUS_DI": ("adx", {"timeperiod": "n"}, ("minus_di",), {}),
    "STDDEV": ("stddev", {"timeperiod": "n", "nbdev": "nbdev"}, None, {}),
    "VAR": ("var", {"timeperiod": "n"}, None, {}),
    "BBANDS": ("bbands", {"timeperiod": "n", "nbdevup": "nbdevup", "nbdevdn": "nbdevdn"}, None,
               {"matype": 0}),
    "MAX": ("max", {"timeperiod": "n"}, None, {}),
    "MIN": ("min", {"timeperiod": "n"}, None, {}),
    "OBV": ("obv", {}, None, {}),
    "AD": ("ad", {}, None, {}),
}


def _bind(names: list[str], defaults: dict[str, object], args: tuple, kwargs: dict) -> dict | None:
    """Bind positional and keyword arguments to `names`; None if they do not fit."""
    if len(args) > len(names) or set(kwargs) - set(names):
        return None
    bound = dict(defaults)
    bound.update(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound if all(n in bound for n in names) else None


def _talib_call(func, args: tuple, kwargs: dict) -> KernelCall | None:
    name = getattr(func, "__name__", "")
    if not getattr(func, "__module__", "").startswith("talib") or name not in _TALIB:
        return None
    from talib import abstract

    kernel, param_map, lines, required = _TALIB[name]
    spec = all_specs()[kernel]
    info = abstract.Function(name).info
    input_names = list(abstract.Function(name).input_names.values())
    flat_inputs = [n for group in input_names for n in ([group] if isinstance(group, str) else group)]
    params = dict(info["parameters"])
    bound = _bind(flat_inputs + list(params), params, args, kwargs)
    if bound is None or any(bound[k] != v for k, v in required.items()):
        return None
    kernel_params = {param_map[k]: bound[k] for k in param_map}
    return KernelCall(spec, tuple(bound[n] for n in flat_inputs), kernel_params, lines or spec.outputs)


def _is_sma(func) -> bool:
    """`backtesting.test.SMA` or `sqfast.lib.SMA`, without importing backtesting.py for the test."""
    module = getattr(func, "__module__", None)
    if getattr(func, "__name__", None) != "SMA" or module not in ("backtesting.test", "sqfast.lib"):
        return False
    if module == "sqfast.lib":
        from .. import lib

        return func is lib.SMA
    from backtesting import test

    return func is test.SMA


def _sma_function(func, args: tuple, kwargs: dict) -> KernelCall | None:
    if not _is_sma(func):
        return None
    bound = _bind(["values", "n"], {}, args, kwargs)
    if bound is None:
        return None
    spec = all_specs()["sma"]
    return KernelCall(spec, (bound["values"],), {"n": bound["n"]}, spec.outputs)


def _sqfast_kernel(func, args: tuple, kwargs: dict) -> KernelCall | None:
    spec = next((s for s in all_specs().values() if s.batch is func), None)
    if spec is None:
        return None
    names = list(spec.inputs) + [p for p, _ in spec.params]
    bound = _bind(names, dict(spec.params), args, kwargs)
    if bound is None:
        return None
    params = {p: bound[p] for p, _ in spec.params}
    return KernelCall(spec, tuple(bound[n] for n in spec.inputs), params, spec.outputs)


def _whole(value, minimum: int) -> bool:
    return isinstance(value, int) and value >= minimum


def _pandas_call(form: forms.PandasForm) -> KernelCall | None:
    """The kernel of a pandas rolling/ewm form, where its semantics are the kernel's exactly."""
    specs = all_specs()
    if form.method == "ewm":
        if not (form.window >= 1 and math.isfinite(form.window)):
            return None
        spec, params = specs["ewm"], {"span": form.window}
    elif form.aggregate == "std":
        if not _whole(form.window, 2) or form.ddof not in (0, 1):
            return None
        spec = specs["rolling_std" if form.ddof == 1 else "stddev"]
        params = {"n": form.window} if form.ddof == 1 else {"n": form.window, "nbdev": 1.0}
    else:
        if not _whole(form.window, 1):
            return None
        spec, params = specs[{"mean": "sma", "max": "max", "min": "min"}[form.aggregate]], {"n": form.window}
    return KernelCall(spec, (form.series,), params, spec.outputs)


_MAX_WRAPPING = 3  # a one-expression function calling another, and so on, at most this deep


def _one_expression(func, args: tuple, kwargs: dict, depth: int) -> KernelCall | None:
    """A lambda or one-line def: a pandas form on a parameter, or a call of a known function."""
    if depth >= _MAX_WRAPPING:
        return None
    expression = forms.expression_of(func)
    scope = forms.scope_of(func, args, kwargs) if expression is not None else None
    if scope is None:
        return None
    form = forms.pandas_form(expression, scope)
    if form is not None:
        return _pandas_call(form)
    wrapped = forms.call_form(expression, scope)
    if wrapped is None or wrapped.func is func:
        return None
    inner = _match(wrapped.func, wrapped.args, wrapped.kwargs, depth + 1)
    if inner is None or wrapped.line is None:
        return inner
    if len(inner.lines) < 2 or wrapped.line >= len(inner.lines):
        return None  # indexing a one-line result picks a bar, not a line
    return KernelCall(inner.spec, inner.inputs, inner.params, (inner.lines[wrapped.line],))


def _match(func, args: tuple, kwargs: dict, depth: int) -> KernelCall | None:
    for matcher in (_sma_function, _talib_call, _sqfast_kernel):
        call = matcher(func, args, kwargs)
        if call is not None:
            return call
    return _one_expression(func, args, kwargs, depth)


def match_kernel(func, args: tuple, kwargs: dict) -> KernelCall | None:
    """The kernel computing `func(*args, **kwargs)`, or None for a window node."""
    return _match(func, args, kwargs, 0)

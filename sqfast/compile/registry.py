"""Which kernel computes an indicator function: `backtesting.test.SMA`, TA-Lib's functions and
sqfast's own `<ind>_batch` functions. Anything else is a window node (recomputed on the window)."""

from dataclasses import dataclass

from ..kernels.catalog import KernelSpec, all_specs


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


def _backtesting_sma(func, args: tuple, kwargs: dict) -> KernelCall | None:
    from backtesting import test

    if func is not test.SMA:
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


def match_kernel(func, args: tuple, kwargs: dict) -> KernelCall | None:
    """The kernel computing `func(*args, **kwargs)`, or None for a window node."""
    for matcher in (_backtesting_sma, _talib_call, _sqfast_kernel):
        call = matcher(func, args, kwargs)
        if call is not None:
            return call
    return None

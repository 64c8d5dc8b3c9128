"""Read an indicator function written as one expression, so the registry can map it to a kernel.

`self.I(lambda x: pd.Series(x).rolling(self.n).mean(), self.data.Close)` and
`def rolling_std(x, n): return pd.Series(x).rolling(n).std()` are kernels in disguise. This module
finds the expression in the function's source (the lambda's own, among several on one line), binds
its names as Python would at call time (the `self.I` arguments, then the closure, then the
module's globals) and reads two shapes from it:

- a pandas form on one of the function's parameters: `pd.Series(x).rolling(n).mean()` (also
  `.std()`, `.max()`, `.min()`) or `pd.Series(x).ewm(span=n, adjust=False).mean()`;
- a call of another function with arguments made of parameters, numbers, attributes and
  arithmetic, optionally one line of its result: `lambda x, f, s, g: talib.MACD(x, f, s, g)[0]`.

Names are resolved by reading values only (attributes and arithmetic; nothing is called), so a
form the reader is unsure of is simply not recognised: the indicator stays a window node.
"""

import ast
import builtins
import inspect
import linecache
import numbers
import operator
import sys
from dataclasses import dataclass
from functools import lru_cache

from .graph import Node

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_ROLLING_AGGREGATES = ("mean", "std", "max", "min")


class UnresolvedError(Exception):
    """A name or expression whose value cannot be read without running code."""


@dataclass(frozen=True)
class Scope:
    """The names an indicator function sees when `self.I` calls it."""

    bound: dict  # parameters, bound to the self.I arguments
    closure: dict
    globals: dict

    def resolve(self, node: ast.expr):
        """The value of `node`, read from the scope; raises `UnresolvedError` for anything else."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            for names in (self.bound, self.closure, self.globals, vars(builtins)):
                if node.id in names:
                    return names[node.id]
            raise UnresolvedError(node.id)
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise UnresolvedError(node.attr)
            base = self.resolve(node.value)
            try:
                return getattr(base, node.attr)
            except Exception:
                raise UnresolvedError(node.attr) from None
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self.resolve(node.left), self.resolve(node.right)
            try:
                return _BINARY[type(node.op)](left, right)
            except Exception:
                raise UnresolvedError(ast.unparse(node)) from None
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = self.resolve(node.operand)
            try:
                return -value if isinstance(node.op, ast.USub) else value
            except Exception:
                raise UnresolvedError(ast.unparse(node)) from None
        raise UnresolvedError(type(node).__name__)

    def parameter(self, node: ast.expr) -> Node | None:
        """The series bound to `node` if it names a parameter of the function, else None."""
        if isinstance(node, ast.Name) and node.id in self.bound and isinstance(self.bound[node.id], Node):
            return self.bound[node.id]
        return None


@dataclass(frozen=True)
class PandasForm:
    """`pd.Series(series).rolling(window).<aggregate>()` or `pd.Series(series).ewm(span=...).mean()`."""

    series: Node
    method: str  # "rolling" or "ewm"
    aggregate: str  # mean, std, max, min
    window: float  # the rolling window, or the ewm span
    ddof: int = 1  # of std


@dataclass(frozen=True)
class CallForm:
    """`func(*args, **kwargs)`, or line `line` of its result (`func(...)[line]`)."""

    func: object
    args: tuple
    kwargs: dict
    line: int | None = None


@lru_cache(maxsize=64)
def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _module_tree(func) -> ast.Module | None:
    filename = func.__code__.co_filename
    linecache.checkcache(filename)  # a file rewritten since it was last read is read again
    lines = linecache.getlines(filename, func.__globals__)
    return _parse("".join(lines)) if lines else None


def _within(node: ast.AST, position: tuple) -> bool:
    line, end_line, col, end_col = position
    return ((line, col) >= (node.lineno, node.col_offset)
            and (end_line, end_col) <= (node.end_lineno, node.end_col_offset))


def _argument_names(arguments: ast.arguments) -> list[str]:
    return [a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)]


def _lambda_node(tree: ast.Module, code) -> ast.Lambda | None:
    """The lambda compiled into `code`: on its first line, with its arguments, enclosing its code."""
    names = list(code.co_varnames[:code.co_argcount + code.co_kwonlyargcount])
    candidates = [node for node in ast.walk(tree)
                  if isinstance(node, ast.Lambda) and node.lineno == code.co_firstlineno
                  and _argument_names(node.args) == names]
    if len(candidates) > 1:
        positions = [p for p in code.co_positions() if p[0] is not None and p[2] is not None and p[3]]
        candidates = [node for node in candidates if all(_within(node, p) for p in positions)]
    return candidates[0] if len(candidates) == 1 else None


def _def_node(tree: ast.Module, code) -> ast.FunctionDef | None:
    candidates = [node for node in ast.walk(tree)
                  if isinstance(node, ast.FunctionDef) and node.name == code.co_name
                  and node.lineno == code.co_firstlineno and not node.decorator_list]
    return candidates[0] if len(candidates) == 1 else None


def expression_of(func) -> ast.expr | None:
    """The one expression `func` computes: a lambda's body, or a def's single `return` (after an
    optional docstring). None for anything else, or when the source cannot be read."""
    if not inspect.isfunction(func):
        return None
    code = func.__code__
    if code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS):
        return None
    tree = _module_tree(func)
    if tree is None:
        return None
    if code.co_name == "<lambda>":
        node = _lambda_node(tree, code)
        return None if node is None else node.body
    node = _def_node(tree, code)
    if node is None:
        return None
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
        return body[0].value
    return None


def scope_of(func, args: tuple, kwargs: dict) -> Scope | None:
    """The names `func` sees when called with `args` and `kwargs`; None if they do not bind."""
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    bound.apply_defaults()
    closure = {}
    for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=True):
        try:
            closure[name] = cell.cell_contents
        except ValueError:  # an empty cell: the name is not assigned yet
            continue
    return Scope(dict(bound.arguments), closure, func.__globals__)


def _is_pandas_series(value) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and value is getattr(pandas, "Series", None)


def _keywords(call: ast.Call, scope: Scope) -> dict:
    if any(k.arg is None for k in call.keywords):
        raise UnresolvedError("**kwargs")
    return {k.arg: scope.resolve(k.value) for k in call.keywords}


def _whole_number(value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UnresolvedError(repr(value))
    return int(value)


def _strip_to_numpy(node: ast.expr) -> ast.expr:
    """`<form>.values` and `<form>.to_numpy()` are the same numbers as `<form>`."""
    if isinstance(node, ast.Attribute) and node.attr == "values":
        return node.value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "to_numpy"
            and not node.args and not node.keywords):
        return node.func.value
    return node


def _rolling_window(call: ast.Call, scope: Scope) -> int:
    """The window of `.rolling(n)` / `.rolling(window=n)`, with `min_periods` None or n only."""
    kwargs = _keywords(call, scope)
    if len(call.args) > 1 or set(kwargs) - {"window", "min_periods"} or (call.args and "window" in kwargs):
        raise UnresolvedError("rolling arguments")
    window = _whole_number(scope.resolve(call.args[0]) if call.args else kwargs.get("window"))
    if kwargs.get("min_periods") not in (None, window):
        raise UnresolvedError("min_periods")
    return window


def _ewm_span(call: ast.Call, scope: Scope) -> float:
    """The span of `.ewm(span=n, adjust=False)`; `min_periods` 0 or 1 and `ignore_na=False` allowed."""
    kwargs = _keywords(call, scope)
    if call.args or set(kwargs) - {"span", "adjust", "min_periods", "ignore_na"} or "span" not in kwargs:
        raise UnresolvedError("ewm arguments")
    if kwargs.get("adjust") is not False or kwargs.get("ignore_na", False) is not False:
        raise UnresolvedError("adjust")
    if _whole_number(kwargs.get("min_periods", 0)) not in (0, 1):
        raise UnresolvedError("min_periods")
    span = kwargs["span"]
    if isinstance(span, bool) or not isinstance(span, numbers.Real):
        raise UnresolvedError("span")
    return span


def pandas_form(node: ast.expr, scope: Scope) -> PandasForm | None:
    """`node` read as a pandas rolling/ewm form on a parameter of the function, or None."""
    try:
        return _pandas_form(_strip_to_numpy(node), scope)
    except UnresolvedError:
        return None


def _pandas_form(node: ast.expr, scope: Scope) -> PandasForm | None:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    aggregate, window_call = node.func.attr, node.func.value
    if not (isinstance(window_call, ast.Call) and isinstance(window_call.func, ast.Attribute)):
        return None
    method, series_call = window_call.func.attr, window_call.func.value
    if not (isinstance(series_call, ast.Call) and len(series_call.args) == 1 and not series_call.keywords
            and _is_pandas_series(scope.resolve(series_call.func))):
        return None
    series = scope.parameter(series_call.args[0])
    if series is None:
        return None
    kwargs = _keywords(node, scope)
    if node.args:
        return None
    if method == "rolling" and aggregate in _ROLLING_AGGREGATES:
        ddof = _whole_number(kwargs.pop("ddof", 1)) if aggregate == "std" else 1
        if kwargs:
            return None
        return PandasForm(series, method, aggregate, _rolling_window(window_call, scope), ddof)
    if method == "ewm" and aggregate == "mean" and not kwargs:
        return PandasForm(series, method, aggregate, _ewm_span(window_call, scope))
    return None


def call_form(node: ast.expr, scope: Scope) -> CallForm | None:
    """`node` read as a call of a function with readable arguments (optionally `[line]` of it)."""
    line = None
    if isinstance(node, ast.Subscript):
        index = node.slice
        if not (isinstance(index, ast.Constant) and type(index.value) is int and index.value >= 0):
            return None
        line, node = index.value, node.value
    if not isinstance(node, ast.Call) or any(isinstance(a, ast.Starred) for a in node.args):
        return None
    try:
        func = scope.resolve(node.func)
        args = tuple(scope.resolve(a) for a in node.args)
        kwargs = _keywords(node, scope)
    except UnresolvedError:
        return None
    return CallForm(func, args, kwargs, line) if callable(func) else None

"""Check a strategy's `next()` against the subset sqfast compiles, and list what it uses.

The subset (DESIGN.md, "Translating a strategy"): assignments to local names, `if/elif/else`,
`pass`, a bare `return`, comparisons and boolean logic, arithmetic, `abs/min/max/len`, numbers
and class parameters, `self.<indicator>[-k]`, `self.data.<Field>[-k]`, `crossover/cross/
barssince` (backtesting.lib's or sqfast.lib's, which mean the same), `self.position` (truth,
`.size`, `.is_long`, `.is_short`, `.pl`, `.pl_pct`, `.close(portion)`), `self.equity`, and
`self.buy(...)` / `self.sell(...)` with keyword arguments `size, limit, stop, sl, tp`. Anything
else is reported with its line, and the strategy then runs its real `next()` in Python.
"""

import ast
import inspect
import textwrap
from dataclasses import dataclass, field

from .graph import FIELDS

SIGNALS = {"crossover": 2, "cross": 2, "barssince": 1}
SIGNAL_MODULES = ("backtesting.lib", "sqfast.lib")
BUILTINS = {"abs": (1, 1), "min": (2, None), "max": (2, None), "len": (1, 1)}
POSITION_ATTRS = {"size", "is_long", "is_short", "pl", "pl_pct"}
ORDER_KEYWORDS = {"size", "limit", "stop", "sl", "tp"}
ARITHMETIC = ast.Add | ast.Sub | ast.Mult | ast.Div | ast.FloorDiv | ast.Mod | ast.Pow


class UnsupportedError(Exception):
    """A construct outside the compiled subset, at `line` of the strategy file."""

    def __init__(self, line: int, construct: str):
        super().__init__(f"line {line}: {construct}")
        self.line, self.construct = line, construct


@dataclass
class NextUsage:
    """What a compilable `next()` reads and does."""

    depth: dict[str, int] = field(default_factory=dict)  # indicator or data field -> bars of history
    params: set[str] = field(default_factory=set)
    position: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)  # buy, sell, close
    signals: set[str] = field(default_factory=set)
    uses_equity: bool = False

    def need(self, name: str, bars: int) -> None:
        self.depth[name] = max(self.depth.get(name, 0), bars)


@dataclass
class SubsetReport:
    """Whether `next()` compiles; if not, where and why."""

    compiled: bool
    usage: NextUsage | None = None
    line: int | None = None
    construct: str | None = None

    def describe(self, path: str) -> str:
        if self.compiled:
            return "within the compiled subset"
        return f"Python fallback: {path}:{self.line}: {self.construct}"


class _Checker(ast.NodeVisitor):
    def __init__(self, indicators: set[str], params: set[str], first_line: int, names: dict | None = None):
        self.indicators, self.params, self.offset = indicators, params, first_line - 1
        self.names = names  # the module globals next() sees, to tell which crossover() it calls
        self.usage = NextUsage()
        self.locals: set[str] = set()

    def fail(self, node: ast.AST, construct: str):
        raise UnsupportedError(node.lineno + self.offset, construct)

    # statements -------------------------------------------------------------------------------
    def check_body(self, body: list[ast.stmt]) -> None:
        for statement in body:
            self.check_statement(statement)

    def check_statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Pass) or (isinstance(node, ast.Return) and node.value is None):
            return
        if isinstance(node, ast.If):
            self.check_expr(node.test)
            self.check_body(node.body)
            self.check_body(node.orelse)
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(not isinstance(t, ast.Name) for t in targets):
                self.fail(node, "assignment to something other than a local name (e.g. self.x = ...)")
            if node.value is None:
                self.fail(node, "annotation without a value")
            self.check_expr(node.value)
            self.locals.update(t.id for t in targets)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            self.check_action(node.value)
        else:
            self.fail(node, f"{type(node).__name__.lower()} statement")

    def check_action(self, call: ast.Call) -> None:
        func = call.func
        if _is_self_attr(func, "buy") or _is_self_attr(func, "sell"):
            if call.args:
                self.fail(call, f"positional arguments to self.{func.attr}() (use keywords)")
            for keyword in call.keywords:
                if keyword.arg not in ORDER_KEYWORDS:
                    self.fail(call, f"self.{func.attr}({keyword.arg}=...)")
                self.check_expr(keyword.value)
            self.usage.actions.add(func.attr)
        elif (isinstance(func, ast.Attribute) and func.attr == "close"
              and _is_self_attr(func.value, "position")):
            if any(k.arg != "portion" for k in call.keywords) or len(call.args) > 1:
                self.fail(call, "self.position.close() takes only `portion`")
            for arg in [*call.args, *(k.value for k in call.keywords)]:
                self.check_expr(arg)
            self.usage.actions.add("close")
        else:
            self.fail(call, f"call to {ast.unparse(func)}() as a statement")

    # expressions ------------------------------------------------------------------------------
    def check_expr(self, node: ast.expr) -> None:
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float | bool):
                self.fail(node, f"literal {node.value!r}")
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                self.check_expr(value)
        elif isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Invert):
                self.fail(node, "bitwise ~")
            self.check_expr(node.operand)
        elif isinstance(node, ast.BinOp):
            if not isinstance(node.op, ARITHMETIC):
                self.fail(node, f"operator {type(node.op).__name__}")
            self.check_expr(node.left)
            self.check_expr(node.right)
        elif isinstance(node, ast.Compare):
            if any(isinstance(op, ast.In | ast.NotIn | ast.Is | ast.IsNot) for op in node.ops):
                self.fail(node, "`in` / `is` comparison")
            for value in (node.left, *node.comparators):
                self.check_expr(value)
        elif isinstance(node, ast.IfExp):
            for value in (node.test, node.body, node.orelse):
                self.check_expr(value)
        elif isinstance(node, ast.Name):
            if node.id not in self.locals:
                self.fail(node, f"name {node.id!r} (only local names assigned in next() are compiled)")
        elif isinstance(node, ast.Call):
            self.check_call(node)
        elif isinstance(node, ast.Subscript):
            depth = _history_depth(node)
            if depth is None:
                self.fail(node, f"indexing {ast.unparse(node)} (only [-k], k >= 1, of indicators and "
                          "self.data fields)")
            self.check_series(node.value, depth)
        elif isinstance(node, ast.Attribute):
            self.check_attribute(node)
        else:
            self.fail(node, f"{type(node).__name__} expression")

    def check_attribute(self, node: ast.Attribute) -> None:
        if _is_self(node.value):
            if node.attr in self.params:
                self.usage.params.add(node.attr)
            elif node.attr == "equity":
                self.usage.uses_equity = True
            elif node.attr == "position":
                self.usage.position.add("truth")
            elif node.attr in self.indicators:
                self.usage.need(node.attr, 1)
            else:
                self.fail(node, f"self.{node.attr}")
        elif _is_self_attr(node.value, "position") and node.attr in POSITION_ATTRS:
            self.usage.position.add(node.attr)
        elif _is_self_attr(node.value, "data") and node.attr in FIELDS:
            self.usage.need(node.attr, 1)
        else:
            self.fail(node, ast.unparse(node))

    def check_series(self, node: ast.expr, depth: int) -> None:
        """`node` must name an indicator, one line of one (`self.bands[0]`) or a data field; it
        is read `depth` bars back."""
        line = _line_number(node)
        if line is not None and _is_self(node.value.value) and node.value.attr in self.indicators:
            self.usage.need(f"{node.value.attr}[{line}]", depth)
        elif _is_self(getattr(node, "value", None)) and getattr(node, "attr", None) in self.indicators:
            self.usage.need(node.attr, depth)
        elif _is_self_attr(getattr(node, "value", None), "data") and getattr(node, "attr", None) in FIELDS:
            self.usage.need(node.attr, depth)
        else:
            self.fail(node, f"indexing {ast.unparse(node)} (only indicators and self.data fields)")

    def check_call(self, node: ast.Call) -> None:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if node.keywords and name != "barssince":
            self.fail(node, f"keyword arguments to {ast.unparse(node.func)}()")
        if name in SIGNALS:
            if not self.is_library_signal(name):
                self.fail(node, f"call to {name}() that is neither backtesting.lib's nor sqfast.lib's")
            if len(node.args) != SIGNALS[name]:
                self.fail(node, f"{name}() with {len(node.args)} arguments")
            for arg in node.args:
                self.check_signal_arg(arg, 2 if name != "barssince" else 1)
            self.usage.signals.add(name)
        elif name in BUILTINS:
            low, high = BUILTINS[name]
            if len(node.args) < low or (high is not None and len(node.args) > high):
                self.fail(node, f"{name}() with {len(node.args)} arguments")
            if name == "len":
                if not _is_self_attr(node.args[0], "data"):
                    self.fail(node, "len() of something other than self.data")
                return
            for arg in node.args:
                self.check_expr(arg)
        else:
            self.fail(node, f"call to {ast.unparse(node.func)}()")

    def is_library_signal(self, name: str) -> bool:
        """Whether `name` in next() is backtesting.lib's or sqfast.lib's function of that name."""
        if self.names is None:
            return True
        func = self.names.get(name)
        return getattr(func, "__module__", None) in SIGNAL_MODULES and getattr(func, "__name__", None) == name

    def check_signal_arg(self, node: ast.expr, depth: int) -> None:
        """A series argument of crossover/cross/barssince: indicator, field, number or comparison."""
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return
        if isinstance(node, ast.Attribute) and (_is_self(node.value) or _is_self_attr(node.value, "data")):
            if _is_self(node.value) and node.attr in self.params:
                self.usage.params.add(node.attr)
                return
            self.check_series(node, depth)
        elif isinstance(node, ast.Compare | ast.BoolOp | ast.UnaryOp | ast.BinOp):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.check_signal_arg(child, depth)
        else:
            self.fail(node, f"series argument {ast.unparse(node)}")


def _is_self(node) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _is_self_attr(node, attr: str) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == attr and _is_self(node.value)


def _line_number(node: ast.expr) -> int | None:
    """`k` in `self.<indicator>[k]` (a line of a multi-line indicator), else None."""
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int)
            and not isinstance(node.slice.value, bool) and node.slice.value >= 0):
        return node.slice.value
    return None


def _history_depth(node: ast.Subscript) -> int | None:
    """`x[-k]` reads k bars of history (k >= 1); anything else is not in the subset."""
    index = node.slice
    if (isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub)
            and isinstance(index.operand, ast.Constant) and isinstance(index.operand.value, int)
            and not isinstance(index.operand.value, bool) and index.operand.value >= 1):
        return index.operand.value
    return None


def next_function(cls: type) -> tuple[ast.FunctionDef, int]:
    """The AST of `cls.next` and the line in its file where it starts."""
    method = cls.next
    lines, first = inspect.getsourcelines(method)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    return tree.body[0], first


def check_next(cls: type, indicators: set[str], params: set[str]) -> SubsetReport:
    """Check `cls.next` against the compiled subset."""
    node, first = next_function(cls)
    checker = _Checker(indicators, params, first, getattr(cls.next, "__globals__", None))
    try:
        checker.check_body(node.body)
    except UnsupportedError as err:
        return SubsetReport(False, line=err.line, construct=err.construct)
    return SubsetReport(True, usage=checker.usage)

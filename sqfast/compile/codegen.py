"""Generate the Numba source of a strategy's compiled step from its `next()`.

One call advances every symbol that has a bar (`sym`): it updates the strategy's kernel
indicators (`<kernel>_update`, the lockstep path when `dense`), pushes each series `next()` reads
into a per-symbol history ring, updates the state of each `barssince(...)` (every bar, as
backtesting.py evaluates it over the whole history), then, for symbols past their warm-up, runs
the translated `next()` body. Indicators no kernel computes (window nodes, indicators of
indicators) are supplied by the engine as `x_<name>`. Actions are appended to intent arrays:

    act_code[k, s]   1 buy, 2 sell, 3 position.close   (k-th action of symbol s this bar)
    act_size, act_limit, act_stop, act_sl, act_tp, act_portion [k, s]   NaN = not given
    n_act[s]         actions this bar

Series are read from per-symbol history arrays `h_<name>[k, s]`, the value `k` bars ago;
parameters are written into the source as literals (the cache key includes them).
"""

import ast
from dataclasses import dataclass, field

from .graph import FIELDS, Expr, Field
from .subset import NextUsage

FULL = 1 - 2.220446049250313e-16  # backtesting.py's default order size
MAX_ACTIONS = 8
CODES = {"buy": 1, "sell": 2, "close": 3}
POSITION_FIELDS = ("pos_size", "pos_pl", "pos_pl_pct", "equity")
ACTION_ARRAYS = ("act_code", "act_size", "act_limit", "act_stop", "act_sl", "act_tp", "act_portion")


def series_id(name: str) -> str:
    """A Python identifier for a series name: `sma1`, `bands[0]` -> `bands_0`, `Close`."""
    return "h_" + name.replace("[", "_").replace("]", "")


@dataclass
class KernelSlot:
    """A kernel the step updates: `attr` of the indicator, its call, and the source of its inputs."""

    attr: str
    call: object  # registry.KernelCall
    inputs: list[str]  # Numba source of each input, aligned with `sym`


@dataclass
class StepSource:
    """Generated source and what the step function expects, in argument order."""

    source: str
    series: list[str]  # names read by next(), each kept in a ring h_<id> [depth, n_symbols]
    depth: dict[str, int]
    n_barssince: int
    kernels: list[KernelSlot] = field(default_factory=list)
    external: list[str] = field(default_factory=list)  # indicator attrs the engine supplies per bar
    position_fields: list[str] = field(default_factory=lambda: list(POSITION_FIELDS))

    @property
    def arguments(self) -> list[str]:
        kernel_args = [name for slot in self.kernels for name in (f"k_{slot.attr}", f"o_{slot.attr}")]
        return (["sym", "dense", *(f"bar_{f}" for f in FIELDS), *kernel_args,
                 *(f"x_{name}" for name in self.external), *(series_id(n) for n in self.series), "bars",
                 *self.position_fields, *(f"since_{k}" for k in range(self.n_barssince)), *ACTION_ARRAYS,
                 "n_act"])


class _Translator:
    """Turns the checked `next()` AST into Python source valid for Numba."""

    def __init__(self, params: dict, indicators: set[str]):
        self.params, self.indicators = params, indicators
        self.barssince: list[str] = []  # condition source per call site

    # series ------------------------------------------------------------------------------------
    def series_name(self, node: ast.expr) -> str | None:
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
                and isinstance(node.slice, ast.Constant) and _is_self(node.value.value)):
            return f"{node.value.attr}[{node.slice.value}]"
        if isinstance(node, ast.Attribute) and _is_self(node.value) and node.attr in self.indicators:
            return node.attr
        if isinstance(node, ast.Attribute) and _is_self_attr(node.value, "data"):
            return node.attr
        return None

    def at(self, node: ast.expr, ago: int) -> str:
        """Source for the value of series-or-number `node` `ago` bars back."""
        if isinstance(node, ast.Constant):
            return repr(float(node.value))
        if isinstance(node, ast.Attribute) and _is_self(node.value) and node.attr in self.params:
            return repr(float(self.params[node.attr]))
        name = self.series_name(node)
        if name is not None:
            return f"{series_id(name)}[{ago}, s]"
        if isinstance(node, ast.Compare | ast.BoolOp | ast.BinOp | ast.UnaryOp):
            return self.expr(node, ago)
        raise AssertionError(f"not a series: {ast.unparse(node)}")

    # expressions -------------------------------------------------------------------------------
    def expr(self, node: ast.expr, ago: int = 0) -> str:
        if isinstance(node, ast.Constant):
            return repr(node.value)
        if isinstance(node, ast.Name):
            return f"v_{node.id}"
        if isinstance(node, ast.BoolOp):
            op = " and " if isinstance(node.op, ast.And) else " or "
            return "(" + op.join(self.expr(v, ago) for v in node.values) + ")"
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return f"(not {self.truth(node.operand, ago)})"
            return f"({'-' if isinstance(node.op, ast.USub) else '+'}{self.expr(node.operand, ago)})"
        if isinstance(node, ast.BinOp):
            return f"({self.expr(node.left, ago)} {_BINOPS[type(node.op)]} {self.expr(node.right, ago)})"
        if isinstance(node, ast.Compare):
            parts = [self.expr(node.left, ago)]
            for op, right in zip(node.ops, node.comparators, strict=True):
                parts += [_CMPOPS[type(op)], self.expr(right, ago)]
            return "(" + " ".join(parts) + ")"
        if isinstance(node, ast.IfExp):
            test = self.truth(node.test, ago)
            return f"({self.expr(node.body, ago)} if {test} else {self.expr(node.orelse, ago)})"
        if isinstance(node, ast.Subscript):  # x[-k]: the value k - 1 bars before `ago`
            return self.at(node.value, ago + node.slice.operand.value - 1)
        if isinstance(node, ast.Attribute):
            return self.attribute(node, ago)
        if isinstance(node, ast.Call):
            return self.call(node, ago)
        raise AssertionError(f"unexpected {ast.dump(node)}")

    def truth(self, node: ast.expr, ago: int = 0) -> str:
        """Source for `bool(node)`; a series or number in a condition is its value, true if non-zero."""
        return f"({self.expr(node, ago)} != 0)"

    def attribute(self, node: ast.Attribute, ago: int) -> str:
        if _is_self(node.value):
            if node.attr in self.params:
                return repr(self.params[node.attr])
            if node.attr == "equity":
                return "equity[s]"
            if node.attr == "position":
                return "(pos_size[s] != 0)"
            return self.at(node, ago)
        if _is_self_attr(node.value, "position"):
            return {"size": "pos_size[s]", "is_long": "(pos_size[s] > 0)", "is_short": "(pos_size[s] < 0)",
                    "pl": "pos_pl[s]", "pl_pct": "pos_pl_pct[s]"}[node.attr]
        return self.at(node, ago)

    def call(self, node: ast.Call, ago: int) -> str:
        name = node.func.id
        if name in ("abs", "min", "max"):
            return f"{name}({', '.join(self.expr(a, ago) for a in node.args)})"
        if name == "len":
            return "bars[s]"
        if name in ("crossover", "cross"):
            a, b = node.args
            up = self.crossover(a, b, ago)
            return up if name == "crossover" else f"({up} or {self.crossover(b, a, ago)})"
        if name == "barssince":
            k = len(self.barssince)
            self.barssince.append(self.truth(node.args[0]))
            default = self.expr(node.keywords[0].value) if node.keywords else "np.inf"
            return f"(float(since_{k}[s]) if since_{k}[s] >= 0 else {default})"
        raise AssertionError(name)

    def crossover(self, a: ast.expr, b: ast.expr, ago: int) -> str:
        """backtesting.lib.crossover: a was strictly below b a bar ago and is strictly above now."""
        before = f"({self.at(a, ago + 1)} < {self.at(b, ago + 1)})"
        return f"({before} and ({self.at(a, ago)} > {self.at(b, ago)}))"

    # statements --------------------------------------------------------------------------------
    def body(self, statements: list[ast.stmt], indent: str) -> list[str]:
        lines = []
        for node in statements:
            lines += self.statement(node, indent)
        return lines or [indent + "pass"]

    def statement(self, node: ast.stmt, indent: str) -> list[str]:
        if isinstance(node, ast.Pass):
            return [indent + "pass"]
        if isinstance(node, ast.Return):
            return [indent + "continue"]
        if isinstance(node, ast.If):
            lines = [f"{indent}if {self.truth(node.test)}:", *self.body(node.body, indent + "    ")]
            if node.orelse:
                lines += [f"{indent}else:", *self.body(node.orelse, indent + "    ")]
            return lines
        if isinstance(node, ast.Assign):
            targets = " = ".join(f"v_{t.id}" for t in node.targets)
            return [f"{indent}{targets} = {self.expr(node.value)}"]
        if isinstance(node, ast.AugAssign):
            return [f"{indent}v_{node.target.id} {_BINOPS[type(node.op)]}= {self.expr(node.value)}"]
        if isinstance(node, ast.AnnAssign):
            return [f"{indent}v_{node.target.id} = {self.expr(node.value)}"]
        return self.action(node.value, indent)

    def action(self, call: ast.Call, indent: str) -> list[str]:
        verb = call.func.attr if call.func.attr in ("buy", "sell") else "close"
        given = {k.arg: self.expr(k.value) for k in call.keywords}
        if verb == "close" and call.args:
            given["portion"] = self.expr(call.args[0])
        values = {
            "act_code": str(CODES[verb]),
            "act_size": given.get("size", repr(FULL) if verb != "close" else "np.nan"),
            "act_limit": given.get("limit", "np.nan"), "act_stop": given.get("stop", "np.nan"),
            "act_sl": given.get("sl", "np.nan"), "act_tp": given.get("tp", "np.nan"),
            "act_portion": given.get("portion", "1.0" if verb == "close" else "np.nan"),
        }
        lines = [f"{indent}k = n_act[s]"]
        lines += [f"{indent}{array}[k, s] = {value}" for array, value in values.items()]
        return [*lines, f"{indent}n_act[s] = k + 1"]


_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
           ast.Pow: "**"}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


def _is_self(node) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _is_self_attr(node, attr: str) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == attr and _is_self(node.value)


def _input_source(node) -> str | None:
    """Numba source for a kernel input made of bar fields and numbers, aligned with `sym`."""
    if isinstance(node, Field):
        return f"bar_{node.name}"
    if isinstance(node, int | float) and not isinstance(node, bool):
        return repr(float(node))
    if isinstance(node, Expr):
        operands = [_input_source(o) for o in node.operands]
        if any(o is None for o in operands):
            return None
        if node.op == "neg":
            return f"(-{operands[0]})"
        if node.op == "abs":
            return f"np.abs({operands[0]})"
        return f"({operands[0]} {node.op} {operands[1]})"
    return None


def _kernel_slots(indicators: list) -> tuple[list[KernelSlot], list[str]]:
    """Indicators the step computes with kernels, and those the engine supplies (external)."""
    slots, external = [], []
    for indicator in indicators:
        if not indicator.attr:
            continue
        inputs = [_input_source(node) for node in indicator.kernel.inputs] if indicator.kernel else [None]
        if all(i is not None for i in inputs):
            slots.append(KernelSlot(indicator.attr, indicator.kernel, inputs))
        else:
            external.append(indicator.attr)
    return slots, external


def _current_value(name: str, slots: dict[str, KernelSlot], external: list[str]) -> str:
    """Source for series `name`'s value at this bar for symbol `s` (row `i` of the bar arrays)."""
    attr, _, line = name.partition("[")
    line_no = int(line.rstrip("]")) if line else 0
    if attr in FIELDS:
        return f"bar_{attr}[i]"
    if attr in external:
        return f"x_{attr}[{line_no}, i]"
    slot = slots[attr]
    outputs = slot.call.spec.outputs
    if len(outputs) == 1:
        return f"o_{attr}[s]"
    return f"o_{attr}[{outputs.index(slot.call.lines[line_no])}][s]"


def generate(next_ast: ast.FunctionDef, usage: NextUsage, params: dict, indicators: list,
             warmup: int, header: str) -> StepSource:
    """The source of a module defining `step(...)`: indicators, then `next()`, for every symbol
    with a bar. Decisions start on each symbol's bar `1 + warmup`, as in backtesting.py."""
    translator = _Translator(params, {ind.attr for ind in indicators if ind.attr})
    decision = translator.body(next_ast.body, " " * 12)
    series = sorted(usage.depth)
    slots, external = _kernel_slots(indicators)
    depth = {n: usage.depth[n] for n in series}
    spec = StepSource("", series, depth, len(translator.barssince), slots, external)
    by_attr = {slot.attr: slot for slot in slots}
    imports = sorted({f"{slot.call.spec.name}_update" for slot in slots})
    lines = [f'"""{header}"""', "", "import numpy as np", "from numba import njit", ""]
    if imports:
        lines += [f"from sqfast.kernels import {', '.join(imports)}", ""]
    lines += ["", '@njit(cache=True, nogil=True, error_model="numpy")',
              f"def step({', '.join(spec.arguments)}):"]
    for slot in slots:
        update, inputs = f"{slot.call.spec.name}_update", ", ".join(slot.inputs)
        lines += ["    if dense:", f"        {update}(k_{slot.attr}, None, {inputs}, o_{slot.attr})",
                  "    else:", f"        {update}(k_{slot.attr}, sym, {inputs}, o_{slot.attr})"]
    lines += ["    for i in range(sym.shape[0]):", "        s = sym[i]", "        bars[s] += 1",
              "        n_act[s] = 0"]
    for name in series:
        ring = series_id(name)
        if spec.depth[name] > 1:
            lines += [f"        for k in range({spec.depth[name] - 1}, 0, -1):",
                      f"            {ring}[k, s] = {ring}[k - 1, s]"]
        lines.append(f"        {ring}[0, s] = {_current_value(name, by_attr, external)}")
    for k, condition in enumerate(translator.barssince):
        lines += [f"        if {condition}:", f"            since_{k}[s] = 0",
                  f"        elif since_{k}[s] >= 0:", f"            since_{k}[s] += 1"]
    lines += [f"        if bars[s] >= {warmup + 2}:", *decision]
    spec.source = "\n".join(lines) + "\n"
    return spec

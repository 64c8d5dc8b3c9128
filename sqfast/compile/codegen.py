"""Generate the Numba source of a strategy's compiled step from its `next()`.

One call advances every symbol that has a bar (`sym`): it updates the strategy's kernel
indicators (`<kernel>_update`, the lockstep path when `dense`), pushes each series `next()` reads
into a per-symbol history ring `h_<name>[k, s]` (the value `k` bars ago), updates the state of
each `barssince(...)` (every bar, as backtesting.py evaluates it over the whole history), then
evaluates the translated `next()` body, which counts only for symbols past their warm-up.
Indicators no kernel computes (window nodes, indicators of indicators) are supplied by the
engine as `x_<name>`. Parameters are written into the source as literals (the cache key
includes them).

`next()` becomes straight-line code, so the symbol loop has no data-dependent branches (they
mispredicted on about half the symbols and made the step 4x slower than a hand-written one) and
LLVM can vectorise it over dense bars:

- each statement runs under a guard, the conjunction of the conditions on its path (`g<k>`);
  `and`/`or` in conditions evaluate every operand (all are side-effect free) with `&`/`|`;
- an assignment under a guard selects between the new and the old value; a `return` sets
  `dead`, which later statements' guards exclude;
- order call `j` of next() (a "site", in program order) sets bit `j` of `fired[s]` when its guard
  holds; its arguments known at translation live in the layout's `sites`, the ones computed at
  run time in `args[s, column]`. `sqfast.compile.intents` decodes them.

Because next() has no loops, each site runs at most once per bar, and the sites that fired, in
program order, are exactly the calls next() made, in the order it made them.
"""

import ast
from dataclasses import dataclass, field

from .graph import FIELDS, Expr, Field
from .subset import NextUsage

FULL = 1 - 2.220446049250313e-16  # backtesting.py's default order size
CODES = {"buy": 1, "sell": 2, "close": 3}
POSITION_FIELDS = ("pos_size", "pos_pl", "pos_pl_pct", "equity")
ACTION_FIELDS = ("code", "size", "limit", "stop", "sl", "tp", "portion")
MAX_SITES = 63  # order calls in one next(): one bit each in an int64
_NAN = float("nan")
_DEFAULTS = {"buy": {"size": FULL}, "sell": {"size": FULL}, "close": {"portion": 1.0}}
_BODY = " " * 12  # indentation of the translated body inside the symbol loop
_TOP = "g0"  # the guard of next()'s own body: the symbol is past its warm-up


def series_id(name: str) -> str:
    """A Python identifier for a series name: `sma1`, `bands[0]` -> `bands_0`, `Close`."""
    return "h_" + name.replace("[", "_").replace("]", "")


@dataclass(frozen=True)
class ActionSite:
    """One order call in next(): what it does, with literal arguments known at translation
    (NaN when not given or computed) and, for computed ones, their column in `args` (else -1).
    Both are indexed like ACTION_FIELDS."""

    verb: str
    literal: tuple[float, ...]
    slots: tuple[int, ...]


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
    sites: list[ActionSite]  # in program order, which is the order they run in
    n_args: int  # columns of `args`
    kernels: list[KernelSlot] = field(default_factory=list)
    external: list[str] = field(default_factory=list)  # indicator attrs the engine supplies per bar
    position_fields: list[str] = field(default_factory=list)  # the POSITION_FIELDS next() reads
    bar_fields: list[str] = field(default_factory=list)  # the FIELDS the step reads

    @property
    def arguments(self) -> list[str]:
        kernel_args = [name for slot in self.kernels for name in (f"k_{slot.attr}", f"o_{slot.attr}")]
        return (["sym", "dense", *(f"bar_{f}" for f in self.bar_fields), *kernel_args,
                 *(f"x_{name}" for name in self.external), *(series_id(n) for n in self.series), "bars",
                 *self.position_fields, *(f"since_{k}" for k in range(self.n_barssince)), "fired", "args"])


class _Translator:
    """Turns the checked `next()` AST into Python source valid for Numba."""

    def __init__(self, params: dict, indicators: set[str], has_return: bool):
        self.params, self.indicators, self.has_return = params, indicators, has_return
        self.barssince: list[str] = []  # condition source per call site
        self.reads: set[tuple[str, int]] = set()  # (series, bars ago) loaded into locals
        self.lines: list[str] = []  # the translated body
        self.n_guards = 1  # g0 is _TOP
        self.assigned: set[str] = set()
        self.sites: list[ActionSite] = []
        self.arg_slots: list[str] = []  # stores of non-literal order arguments
        self.position_used: set[str] = set()  # POSITION_FIELDS next() reads

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
            self.reads.add((name, ago))
            return _local(name, ago)
        if isinstance(node, ast.Compare | ast.BoolOp | ast.BinOp | ast.UnaryOp):
            return self.expr(node, ago)
        raise AssertionError(f"not a series: {ast.unparse(node)}")

    # expressions -------------------------------------------------------------------------------
    def expr(self, node: ast.expr, ago: int = 0) -> str:
        if isinstance(node, ast.Constant):
            return repr(node.value)
        if isinstance(node, ast.Name):
            return f"v_{node.id}"
        if isinstance(node, ast.BoolOp):  # Python's value: the first false (and) / true (or) operand
            values = [self.expr(v, ago) for v in node.values]
            truths = [self.truth(v, ago) for v in node.values]
            result = values[-1]
            for value, truth in zip(reversed(values[:-1]), reversed(truths[:-1]), strict=True):
                result = (f"({result} if {truth} else {value})" if isinstance(node.op, ast.And)
                          else f"({value} if {truth} else {result})")
            return result
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
        """Source for `bool(node)`; a series or number in a condition is its value, true if non-zero.
        `and`/`or` of conditions evaluate every operand (none has side effects) without branching."""
        if isinstance(node, ast.BoolOp):
            op = " & " if isinstance(node.op, ast.And) else " | "
            return "(" + op.join(self.truth(v, ago) for v in node.values) + ")"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return f"(not {self.truth(node.operand, ago)})"
        if isinstance(node, ast.Compare) or (isinstance(node, ast.Call) and node.func.id in SIGNAL_CALLS):
            return self.expr(node, ago)
        return f"({self.expr(node, ago)} != 0)"

    def attribute(self, node: ast.Attribute, ago: int) -> str:
        if _is_self(node.value):
            if node.attr in self.params:
                return repr(self.params[node.attr])
            if node.attr == "equity":
                self.position_used.add("equity")
                return "equity[s]"
            if node.attr == "position":
                self.position_used.add("pos_size")
                return "(pos_size[s] != 0)"
            return self.at(node, ago)
        if _is_self_attr(node.value, "position"):
            array = {"pl": "pos_pl", "pl_pct": "pos_pl_pct"}.get(node.attr, "pos_size")
            self.position_used.add(array)
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
            return up if name == "crossover" else f"({up} | {self.crossover(b, a, ago)})"
        if name == "barssince":
            k = len(self.barssince)
            self.barssince.append(self.truth(node.args[0]))
            default = self.expr(node.keywords[0].value) if node.keywords else "np.inf"
            return f"(float(since_{k}[s]) if since_{k}[s] >= 0 else {default})"
        raise AssertionError(name)

    def crossover(self, a: ast.expr, b: ast.expr, ago: int) -> str:
        """backtesting.lib.crossover: a was strictly below b a bar ago and is strictly above now."""
        before = f"({self.at(a, ago + 1)} < {self.at(b, ago + 1)})"
        return f"({before} & ({self.at(a, ago)} > {self.at(b, ago)}))"

    # statements --------------------------------------------------------------------------------
    # next() becomes straight-line code: each statement runs under a guard (the conjunction of
    # the conditions on its path), assignments select, and each order call sets its site's bit.

    def guard(self, value: str) -> str:
        """A new guard variable holding the condition `value`."""
        name = f"g{self.n_guards}"
        self.n_guards += 1
        self.lines.append(f"{_BODY}{name} = {value}")
        return name

    def effective(self, guard: str) -> str:
        """`guard`, and not after a `return` already taken on this bar."""
        return f"({guard} & (not dead))" if self.has_return else guard

    def body(self, statements: list[ast.stmt], guard: str) -> None:
        for node in statements:
            self.statement(node, guard)

    def statement(self, node: ast.stmt, guard: str) -> None:
        if isinstance(node, ast.Pass):
            return
        if isinstance(node, ast.Return):
            self.lines.append(f"{_BODY}dead = dead | {guard}")
        elif isinstance(node, ast.If):
            test = self.guard(self.truth(node.test))
            self.body(node.body, self.guard(f"{guard} & {test}"))
            if node.orelse:
                self.body(node.orelse, self.guard(f"{guard} & (not {test})"))
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = self.expr(node.value)
            if isinstance(node, ast.AugAssign):
                value = f"(v_{node.target.id} {_BINOPS[type(node.op)]} {value})"
            for target in targets:
                self.assign(f"v_{target.id}", value, guard)
        else:
            self.action(node.value, guard)

    def assign(self, name: str, value: str, guard: str) -> None:
        """`name = value` where `guard` holds. The first assignment is unconditional: the value is
        side-effect free and, in a valid next(), read only where its assignment ran."""
        if name in self.assigned and guard != _TOP:
            value = f"({value} if {self.effective(guard)} else {name})"
        self.assigned.add(name)
        self.lines.append(f"{_BODY}{name} = {value}")

    def action(self, call: ast.Call, guard: str) -> None:
        """An order call: its site's bit in `fired`, its non-literal arguments in `args`."""
        verb = call.func.attr if call.func.attr in ("buy", "sell") else "close"
        given = {k.arg: k.value for k in call.keywords}
        if verb == "close" and call.args:
            given["portion"] = call.args[0]
        literal, slots = [float(CODES[verb])], [-1]
        for name in ACTION_FIELDS[1:]:
            node = given.get(name)
            value = _literal(node, self.params) if node is not None else _DEFAULTS[verb].get(name, _NAN)
            if value is None:
                slots.append(len(self.arg_slots))
                self.arg_slots.append(f"{_BODY}args[s, {len(self.arg_slots)}] = {self.expr(node)}")
                value = _NAN
            else:
                slots.append(-1)
            literal.append(value)
        bit = len(self.sites)
        self.sites.append(ActionSite(verb, tuple(literal), tuple(slots)))
        self.lines.append(f"{_BODY}if {self.effective(guard)}:")
        self.lines.append(f"{_BODY}    fired_bits |= {1 << bit}")


_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
           ast.Pow: "**"}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


SIGNAL_CALLS = ("crossover", "cross")


def _local(name: str, ago: int) -> str:
    """The local holding series `name`'s value `ago` bars back for the current symbol."""
    return f"r{ago}_{series_id(name)[2:]}"


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


def _literal(node: ast.expr, params: dict) -> float | None:
    """The value of an order argument known at translation (a number or a parameter), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd)
            and isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, int | float)):
        return float(-node.operand.value if isinstance(node.op, ast.USub) else node.operand.value)
    if isinstance(node, ast.Attribute) and _is_self(node.value) and node.attr in params:
        value = params[node.attr]
        return float(value) if isinstance(value, int | float) else None
    return None


def _history_lines(name: str, depth: int, current: str) -> list[str]:
    """Shift series `name`'s history for symbol `s` by one bar and store its current value."""
    ring = series_id(name)
    lines = [f"{_BODY}{ring}[{k}, s] = {ring}[{k - 1}, s]" for k in range(depth - 1, 0, -1)]
    return [*lines, f"{_BODY}{ring}[0, s] = {current}"]


def _symbol_body(translator: _Translator, spec: StepSource, by_attr: dict, warmup: int) -> list[str]:
    """One symbol's bar: its history, its barssince states, then next() under guard g0."""
    lines = [f"{_BODY}n_bars = bars[s] + 1", f"{_BODY}bars[s] = n_bars"]
    for name in spec.series:
        lines += _history_lines(name, spec.depth[name], _current_value(name, by_attr, spec.external))
    lines += [f"{_BODY}{_local(name, ago)} = {series_id(name)}[{ago}, s]"
              for name, ago in sorted(translator.reads)]
    for k, condition in enumerate(translator.barssince):
        lines += [f"{_BODY}since = since_{k}[s]",
                  f"{_BODY}since_{k}[s] = 0 if {condition} else (since + 1 if since >= 0 else since)"]
    lines += [f"{_BODY}{_TOP} = n_bars >= {warmup + 2}", f"{_BODY}fired_bits = 0"]
    if translator.has_return:
        lines.append(f"{_BODY}dead = False")
    return [*lines, *translator.lines, *translator.arg_slots, f"{_BODY}fired[s] = fired_bits"]


def generate(next_ast: ast.FunctionDef, usage: NextUsage, params: dict, indicators: list,
             warmup: int, header: str) -> StepSource:
    """The source of a module defining `step(...)`: indicators, then `next()`, for every symbol
    with a bar. Decisions start on each symbol's bar `1 + warmup`, as in backtesting.py.

    The symbol loop is written twice: over every symbol in row order when `dense` (LLVM can then
    vectorise it), and over the rows in `sym` otherwise."""
    has_return = any(isinstance(node, ast.Return) for node in ast.walk(next_ast))
    translator = _Translator(params, {ind.attr for ind in indicators if ind.attr}, has_return)
    translator.body(next_ast.body, _TOP)
    if len(translator.sites) > MAX_SITES:
        raise ValueError(f"next() has {len(translator.sites)} order calls; at most {MAX_SITES} compile")
    series = sorted(usage.depth)
    slots, external = _kernel_slots(indicators)
    depth = {n: usage.depth[n] for n in series}
    position = [name for name in POSITION_FIELDS if name in translator.position_used]
    kernel_inputs = " ".join(i for slot in slots for i in slot.inputs)
    bar_fields = [f for f in FIELDS if f in series or f"bar_{f}" in kernel_inputs]
    spec = StepSource("", series, depth, len(translator.barssince), translator.sites,
                      len(translator.arg_slots), slots, external, position, bar_fields)
    body = _symbol_body(translator, spec, {slot.attr: slot for slot in slots}, warmup)
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
    lines += ["    if dense:", "        for s in range(sym.shape[0]):", "            i = s", *body,
              "    else:", "        for i in range(sym.shape[0]):", "            s = sym[i]", *body]
    spec.source = "\n".join(lines) + "\n"
    return spec

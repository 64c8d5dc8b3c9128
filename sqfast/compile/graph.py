"""The values `init()` builds, recorded as a graph instead of computed.

`self.data.Close` is a `Field`; arithmetic on fields and indicators makes an `Expr`; every
`self.I(func, ...)` call is an `Indicator`, and `ind[k]` on a multi-line indicator is a `Line`.
"""

from dataclasses import dataclass, field

FIELDS = ("Open", "High", "Low", "Close", "Volume")


class Node:
    """A series in the recorded graph; arithmetic with numbers or other nodes records an `Expr`."""

    def _op(self, op: str, *others) -> "Expr":
        return Expr(op, (self, *others))

    def __add__(self, other):
        return self._op("+", other)

    def __radd__(self, other):
        return Expr("+", (other, self))

    def __sub__(self, other):
        return self._op("-", other)

    def __rsub__(self, other):
        return Expr("-", (other, self))

    def __mul__(self, other):
        return self._op("*", other)

    def __rmul__(self, other):
        return Expr("*", (other, self))

    def __truediv__(self, other):
        return self._op("/", other)

    def __rtruediv__(self, other):
        return Expr("/", (other, self))

    def __neg__(self):
        return self._op("neg")

    def __abs__(self):
        return self._op("abs")


@dataclass(eq=False)
class Field(Node):
    """One column of the bars: Open, High, Low, Close or Volume."""

    name: str

    def __repr__(self) -> str:
        return f"data.{self.name}"


@dataclass(eq=False)
class Expr(Node):
    """Element-wise arithmetic: `op` is one of + - * / neg abs; operands are nodes or numbers."""

    op: str
    operands: tuple

    def __repr__(self) -> str:
        if self.op in ("neg", "abs"):
            return f"{self.op}({self.operands[0]!r})"
        return f"({self.operands[0]!r} {self.op} {self.operands[1]!r})"


@dataclass(eq=False)
class Indicator(Node):
    """One `self.I(func, *args, **kwargs)` call, in call order; `attr` is the name it was stored as."""

    position: int
    func: object
    args: tuple
    kwargs: dict
    name: str | None = None
    scatter: bool = False
    attr: str | None = None
    kernel: "object | None" = field(default=None, repr=False)

    def __getitem__(self, line):
        if not isinstance(line, int):
            raise TypeError("in init(), an indicator can only be indexed by a line number")
        return Line(self, line)

    @property
    def label(self) -> str:
        return self.attr or self.name or f"indicator {self.position}"

    def __repr__(self) -> str:
        return f"I({getattr(self.func, '__name__', self.func)!s}, {self.label})"


@dataclass(eq=False)
class Line(Node):
    """Line `index` of a multi-line indicator (e.g. the signal line of MACD)."""

    indicator: Indicator
    index: int

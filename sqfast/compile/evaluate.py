"""Evaluate a recorded graph on whole arrays, as backtesting.py would: each indicator by calling
its own function. Used for window nodes over history and as the reference for kernel mappings."""

import operator

import numpy as np

from .graph import Expr, Field, Indicator, Line

_BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def evaluate(node, columns: dict[str, np.ndarray], cache: dict | None = None):
    """The value of `node` given the data `columns` (Open, High, Low, Close, Volume arrays).

    Plain values (numbers, strings) evaluate to themselves; an indicator gives what its function
    returns, as a float array (2-D for several lines).
    """
    cache = {} if cache is None else cache
    key = id(node)
    if key in cache:
        return cache[key]
    if isinstance(node, Field):
        value = np.asarray(columns[node.name], dtype=np.float64)
    elif isinstance(node, Expr):
        operands = [evaluate(o, columns, cache) for o in node.operands]
        if node.op == "neg":
            value = -operands[0]
        elif node.op == "abs":
            value = np.abs(operands[0])
        else:
            value = _BINARY[node.op](operands[0], operands[1])
    elif isinstance(node, Indicator):
        args = [evaluate(a, columns, cache) for a in node.args]
        kwargs = {k: evaluate(v, columns, cache) for k, v in node.kwargs.items()}
        value = np.asarray(node.func(*args, **kwargs), dtype=np.float64)
        if value.ndim == 2 and np.argmax(value.shape) == 0:
            value = value.T  # backtesting.py's rule: lines first, time along the longer axis
    elif isinstance(node, Line):
        value = np.atleast_2d(evaluate(node.indicator, columns, cache))[node.index]
    else:
        return node
    cache[key] = value
    return value

"""Translate a checked strategy into its compiled step (or report that it needs Python)."""

import functools
import time
from dataclasses import dataclass

import numpy as np

from .analysis import StrategyReport
from .cache import cache_key, load_step_module
from .codegen import POSITION_FIELDS, StepSource, generate
from .replay_loop import loop_source
from .subset import next_function


@dataclass(frozen=True)
class CompiledStep:
    """A strategy's Numba step function and the arguments it expects."""

    step: object
    layout: StepSource
    from_cache: bool
    seconds: float = 0.0  # translation plus Numba compilation (or cache load)
    replay_loop: object = None  # the whole-replay loop (compiled on first use; see replay_loop.py)


def compile_step(report: StrategyReport) -> CompiledStep | None:
    """The compiled step of `report`'s strategy, or None when `next()` is outside the subset."""
    if not report.next_report.compiled:
        return None
    loaded = report.loaded
    node, _ = next_function(loaded.cls)
    indicators = [r.indicator for r in report.indicators]
    header = f"Compiled step of {loaded.name} ({loaded.path}), parameters {loaded.params}; by sqfast."
    layout = generate(node, report.next_report.usage, loaded.params, indicators, report.warmup, header)
    source = layout.source + loop_source(layout)
    started = time.perf_counter()
    module, cached = load_step_module(cache_key(loaded.source, loaded.name, loaded.params, source),
                                      lambda: source)
    StepArrays(layout, 1).call(module.step, np.zeros(0, np.int64), False)  # compiles now, or loads
    return CompiledStep(module.step, layout, cached, time.perf_counter() - started, module.replay_loop)


class StepArrays:
    """Every array a compiled step reads and writes, for `n_symbols` symbols, in argument order
    after `sym` and `dense`. The engine fills the bar and position arrays before each call."""

    def __init__(self, layout: StepSource, n_symbols: int):
        n = n_symbols
        self.layout = layout
        self.bar = {f: np.zeros(n) for f in layout.bar_fields}
        self.kernel_states = {s.attr: s.call.spec.init(n, **s.call.params) for s in layout.kernels}
        self.kernel_outputs = {s.attr: _outputs(s.call.spec.outputs, n) for s in layout.kernels}
        self.external = {name: np.zeros((1, n)) for name in layout.external}
        self.rings = {name: np.full((layout.depth[name], n), np.nan) for name in layout.series}
        self.bars = np.zeros(n, np.int64)
        self.position = {name: np.zeros(n) for name in POSITION_FIELDS}
        self.since = [np.full(n, -1, np.int64) for _ in range(layout.n_barssince)]
        self.fired = np.zeros(n, np.int64)
        self.args = np.zeros((n, max(1, layout.n_args)))

    def call(self, step, sym: np.ndarray, dense: bool) -> None:
        """Run `step` for the symbols in `sym`, whose bars are in the first len(sym) rows of the
        bar and external arrays (`dense`: every symbol, in row order)."""
        m = len(sym)
        bar = self.bar.values() if m == len(self.bars) else [a[:m] for a in self.bar.values()]
        step(sym, dense, *bar, *self._kernels, *(a[:, :m] for a in self.external.values()), *self._tail)

    @functools.cached_property
    def _kernels(self) -> list:
        return [array for slot in self.layout.kernels
                for array in (self.kernel_states[slot.attr], self.kernel_outputs[slot.attr])]

    @functools.cached_property
    def _tail(self) -> list[np.ndarray]:
        """The arguments after the external indicators; the same arrays on every call."""
        return [*self.rings.values(), self.bars, *(self.position[n] for n in self.layout.position_fields),
                *self.since, self.fired, self.args]


def _outputs(names: tuple[str, ...], n: int):
    outs = tuple(np.full(n, np.nan) for _ in names)
    return outs[0] if len(outs) == 1 else outs

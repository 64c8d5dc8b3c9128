"""Translate a checked strategy into its compiled step (or report that it needs Python)."""

import time
from dataclasses import dataclass

import numpy as np

from .analysis import StrategyReport
from .cache import cache_key, load_step_module
from .codegen import ACTION_ARRAYS, MAX_ACTIONS, StepSource, generate
from .subset import next_function


@dataclass(frozen=True)
class CompiledStep:
    """A strategy's Numba step function and the arguments it expects."""

    step: object
    layout: StepSource
    from_cache: bool
    seconds: float = 0.0  # translation plus Numba compilation (or cache load)


def compile_step(report: StrategyReport) -> CompiledStep | None:
    """The compiled step of `report`'s strategy, or None when `next()` is outside the subset."""
    if not report.next_report.compiled:
        return None
    loaded = report.loaded
    node, _ = next_function(loaded.cls)
    indicators = {r.indicator.attr for r in report.indicators if r.indicator.attr}
    header = f"Compiled step of {loaded.name} ({loaded.path}), parameters {loaded.params}; by sqfast."
    layout = generate(node, report.next_report.usage, loaded.params, indicators, header)
    started = time.perf_counter()
    module, cached = load_step_module(cache_key(loaded.source, loaded.name, loaded.params),
                                      lambda: layout.source)
    _compile_now(module.step, layout)
    return CompiledStep(module.step, layout, cached, time.perf_counter() - started)


def _compile_now(step, layout: StepSource) -> None:
    """Call the step once on no symbols, so Numba compiles it (or loads it from its cache) now,
    with exactly the argument types the engine passes."""
    n = 1
    arrays = [np.zeros(0, np.int64), np.zeros(n, np.bool_), np.zeros(n, np.int64)]
    arrays += [np.zeros((layout.depth[name], n)) for name in layout.series]
    arrays += [np.zeros(n) for _ in layout.position_fields]
    arrays += [np.zeros(n, np.int64) for _ in range(layout.n_barssince)]
    arrays += [np.zeros((MAX_ACTIONS, n)) for _ in ACTION_ARRAYS] + [np.zeros(n, np.int64)]
    step(*arrays)

"""One suite over every kernel in the catalog: streaming equals batch, untouched rows stay
bit-identical, `_step` equals `_update`, warm-up equals the declared lookback, and property
tests (hypothesis) over random shapes, parameters and sparse masks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqfast.kernels.catalog import all_specs
from tests.kernels.support import random_ohlcv, random_walk

SPECS = all_specs()
OHLCV = ("open", "high", "low", "close", "volume")


def make_inputs(spec, n_bars: int, n_symbols: int, seed: int) -> list[np.ndarray]:
    """Realistic inputs for a kernel, by input name: consistent OHLCV bars, crossing series, flags."""
    bars = dict(zip(OHLCV, random_ohlcv(n_bars, n_symbols, seed=seed), strict=True))
    walks = {"x": bars["close"], "a": random_walk(n_bars, n_symbols, seed=seed + 1, start=100.0),
             "b": random_walk(n_bars, n_symbols, seed=seed + 2, start=100.0)}
    flags = np.random.default_rng(seed).random((n_bars, n_symbols)) < 0.2
    made = []
    for name in spec.inputs:
        if name == "cond":
            made.append(flags.astype(np.float64))
        else:
            made.append(bars[name] if name in bars else walks[name])
    return made


def new_outputs(spec, n_symbols: int):
    if spec.out_dtype == np.bool_:
        outs = [np.zeros(n_symbols, dtype=np.bool_) for _ in spec.outputs]
    else:
        outs = [np.full(n_symbols, -12345.0) for _ in spec.outputs]
    return outs[0] if len(outs) == 1 else tuple(outs)


def as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def batch(spec, inputs, params):
    return as_tuple(spec.batch(*inputs, **params))


def state_rows(state, n_symbols: int) -> list[np.ndarray]:
    """Every per-symbol array of a state (its last axis runs over symbols)."""
    return [f for f in state if isinstance(f, np.ndarray) and f.ndim >= 1 and f.shape[-1] == n_symbols]


def equal_with_nan(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=np.asarray(a).dtype.kind == "f")


def sparse_schedule(n_bars: int, n_symbols: int, seed: int) -> np.ndarray:
    """Bar mask: a dense start (lockstep), a sparse middle, then dense rows again."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_bars, n_symbols)) < 0.6
    mask[: n_bars // 4] = True
    mask[-5:] = True
    return mask


def run_streaming(spec, inputs, mask, params, check_untouched: bool):
    """Feed each row's symbols through `_update`; return per-symbol output sequences."""
    n_bars, n_symbols = mask.shape
    state = spec.init(n_symbols, **params)
    seen = {s: [[] for _ in spec.outputs] for s in range(n_symbols)}
    for t in range(n_bars):
        rows = np.flatnonzero(mask[t])
        out = new_outputs(spec, n_symbols)
        before_out = [o.copy() for o in as_tuple(out)]
        before_state = [f.copy() for f in state_rows(state, n_symbols)]
        if len(rows) == n_symbols:
            spec.update(state, None, *[x[t] for x in inputs], out)
        else:
            spec.update(state, rows.astype(np.int32), *[x[t, rows] for x in inputs], out)
        if check_untouched:
            others = np.setdiff1d(np.arange(n_symbols), rows)
            for b, o in zip(before_out, as_tuple(out), strict=True):
                assert equal_with_nan(b[others], o[others]), f"{spec.name}: output of a skipped row changed"
            for b, f in zip(before_state, state_rows(state, n_symbols), strict=True):
                assert equal_with_nan(b[..., others], f[..., others]), f"{spec.name}: skipped state changed"
        for j, o in enumerate(as_tuple(out)):
            for s in rows:
                seen[s][j].append(o[s])
    return seen


@pytest.mark.parametrize("name", sorted(SPECS))
def test_streaming_over_sparse_masks_equals_batch_per_symbol(name):
    spec = SPECS[name]
    params = spec.defaults()
    n_bars, n_symbols = 160, 5
    inputs = make_inputs(spec, n_bars, n_symbols, seed=len(name))
    mask = sparse_schedule(n_bars, n_symbols, seed=7)
    seen = run_streaming(spec, inputs, mask, params, check_untouched=True)
    for s in range(n_symbols):
        own = [x[mask[:, s], s] for x in inputs]
        expected = batch(spec, own, params)
        for j, e in enumerate(expected):
            got = np.array(seen[s][j], dtype=e.dtype)
            assert equal_with_nan(got, e), f"{name} output {spec.outputs[j]} symbol {s} differs from batch"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_step_equals_update(name):
    spec = SPECS[name]
    params = spec.defaults()
    n_bars, n_symbols = 80, 3
    inputs = make_inputs(spec, n_bars, n_symbols, seed=3)
    by_update = spec.init(n_symbols, **params)
    by_step = spec.init(n_symbols, **params)
    for t in range(n_bars):
        out = new_outputs(spec, n_symbols)
        spec.update(by_update, np.arange(n_symbols), *[x[t] for x in inputs], out)
        for s in range(n_symbols):
            stepped = as_tuple(spec.step(by_step, s, *[x[t, s] for x in inputs]))
            for j, o in enumerate(as_tuple(out)):
                assert equal_with_nan(o[s], stepped[j]), f"{name}: step != update at bar {t} symbol {s}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_warmup_equals_declared_lookback(name):
    spec = SPECS[name]
    params = spec.defaults()
    lookbacks = spec.lookback(**params)
    assert len(lookbacks) == len(spec.outputs)
    inputs = make_inputs(spec, max(lookbacks) + 20, 2, seed=1)
    for lookback, values in zip(lookbacks, batch(spec, inputs, params), strict=True):
        if values.dtype.kind != "f" or name == "barssince":
            continue
        assert np.isnan(values[:lookback]).all(), f"{name}: value before bar {lookback}"
        assert not np.isnan(values[lookback:]).any(), f"{name}: NaN after its lookback {lookback}"


def small_params(spec, draw):
    """Integer parameters drawn small (2..8) so short histories pass the warm-up; floats kept."""
    params = {}
    for key, default in spec.params:
        is_int = isinstance(default, int) and not isinstance(default, bool)
        params[key] = draw(st.integers(2, 8)) if is_int else default
    return params


@settings(max_examples=15, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("name", sorted(SPECS))
def test_properties(name, data):
    spec = SPECS[name]
    params = small_params(spec, data.draw)
    n_bars = data.draw(st.integers(1, 60), label="bars")
    n_symbols = data.draw(st.integers(1, 4), label="symbols")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    inputs = make_inputs(spec, n_bars, n_symbols, seed)
    whole = batch(spec, inputs, params)
    # shape and dtype follow the input; columns are independent of each other
    for values in whole:
        assert values.shape == (n_bars, n_symbols)
        assert values.dtype == spec.out_dtype
    for s in range(n_symbols):
        alone = batch(spec, [x[:, s] for x in inputs], params)
        for a, w in zip(alone, whole, strict=True):
            assert equal_with_nan(a, w[:, s])
    # the warm-up is exactly the declared lookback, and values after it are finite
    for lookback, values in zip(spec.lookback(**params), whole, strict=True):
        if values.dtype.kind == "f" and name != "barssince":
            assert np.isnan(values[:lookback]).all()
            assert np.isfinite(values[lookback:]).all()
    # any sparse schedule streams to the same per-symbol values as the batch
    mask = np.random.default_rng(seed).random((n_bars, n_symbols)) < data.draw(st.floats(0.2, 1.0))
    seen = run_streaming(spec, inputs, mask, params, check_untouched=False)
    for s in range(n_symbols):
        expected = batch(spec, [x[mask[:, s], s] for x in inputs], params)
        for j, e in enumerate(expected):
            assert equal_with_nan(np.array(seen[s][j], dtype=e.dtype), e)

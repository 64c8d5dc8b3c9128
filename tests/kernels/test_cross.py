"""crossover / crossunder / cross / barssince against backtesting.lib itself, bar by bar."""

import numpy as np
import pytest
from backtesting.lib import barssince, cross, crossover
from backtesting.test import SMA

from sqfast.kernels.cross import (
    SPECS,
    barssince_batch,
    barssince_init,
    barssince_step,
    barssince_update,
    cross_batch,
    cross_init,
    cross_step,
    cross_update,
    crossover_batch,
    crossover_init,
    crossover_step,
    crossover_update,
    crossunder_batch,
    crossunder_init,
    crossunder_step,
    crossunder_update,
)
from tests.kernels.support import random_walk


def _crossunder(a, b):
    return crossover(b, a)


KERNELS = [
    (crossover_batch, crossover_init, crossover_step, crossover_update, crossover),
    (crossunder_batch, crossunder_init, crossunder_step, crossunder_update, _crossunder),
    (cross_batch, cross_init, cross_step, cross_update, cross),
]
IDS = ["crossover", "crossunder", "cross"]


def _prefix(a, t):
    return a if np.isscalar(a) else a[: t + 1]


def _reference(fn, a, b, n_bars):
    """`fn` evaluated at every bar on the prefixes, as backtesting.py's `next()` would see them."""
    return np.array([bool(fn(_prefix(a, t), _prefix(b, t))) for t in range(n_bars)])


def _pairs():
    """NaN warm-ups (SMAs), rounded walks with exact ties, and constant levels."""
    close = np.round(random_walk(400, seed=1, step=0.7))
    fast, slow = SMA(close, 5), SMA(close, 20)
    other = np.round(random_walk(400, seed=3, step=0.7))
    assert np.any(close == other) and np.isnan(slow[:19]).all()
    raw = random_walk(400, seed=3)
    return {
        "sma": (fast, slow),
        "price_sma": (close, slow),
        "ties": (close, other),
        "const_b": (close, 100.5),
        "const_a": (100.5, close),
        "int_const": (raw, 101),
        "touch_level": (close, 100.0),  # integer steps through an integer level: a tie, never a cross
    }


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), KERNELS, ids=IDS)
def test_matches_backtesting_lib(batch, init, step, update, ref):
    for name, (a, b) in _pairs().items():
        got = batch(a, b)
        assert got.dtype == np.bool_ and got.shape == (400,)
        expected = _reference(ref, a, b, 400)
        np.testing.assert_array_equal(got, expected, err_msg=name)
        assert expected.any() == (name != "touch_level"), name


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), KERNELS, ids=IDS)
def test_ties_and_nan_never_cross(batch, init, step, update, ref):
    a = np.array([1.0, 2.0, 3.0, 2.0, 2.0, 1.0, np.nan, 3.0, 1.0, 3.0, 2.0, 2.0, 3.0])
    b = np.full_like(a, 2.0)
    got = batch(a, b)
    np.testing.assert_array_equal(got, _reference(ref, a, b, len(a)))
    # ties at 1-2, 3-4, 10-11; NaN at 6; real crosses only at 8 (down) and 9 (up)
    assert np.flatnonzero(batch(a, b) | batch(b, a)).tolist() == [8, 9]


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), KERNELS, ids=IDS)
def test_short_inputs(batch, init, step, update, ref):
    assert batch(np.array([1.0]), np.array([2.0])).tolist() == [False]
    assert batch(np.array([]), 1.0).shape == (0,)


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), KERNELS, ids=IDS)
def test_2d_per_column(batch, init, step, update, ref):
    close = np.round(random_walk(300, 4, seed=3))
    slow = np.column_stack([SMA(close[:, j], 10) for j in range(4)])
    for b in (slow, 100.0):
        got = batch(close, b)
        assert got.shape == close.shape
        for j in range(4):
            bj = b if np.isscalar(b) else b[:, j]
            expected = _reference(ref, close[:, j], bj, 300)
            np.testing.assert_array_equal(got[:, j], expected, err_msg=f"col {j}")


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), KERNELS, ids=IDS)
def test_out_filled_in_place_and_bad_arguments(batch, init, step, update, ref):
    a, b = random_walk(100, 2, seed=4), random_walk(100, 2, seed=5)
    out = np.zeros(a.shape, dtype=np.bool_)
    assert batch(a, b, out=out) is out
    np.testing.assert_array_equal(out, batch(a, b))
    with pytest.raises(ValueError):
        batch(a, b, out=np.zeros(a.shape))  # must be bool
    with pytest.raises(ValueError):
        batch(a, b[:-1])
    with pytest.raises(ValueError):
        batch(1.0, 2.0)


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), KERNELS, ids=IDS)
def test_step_reproduces_batch(batch, init, step, update, ref):
    a, b = _pairs()["sma"]
    state = init(1)
    got = [step(state, 0, x, y) for x, y in zip(a, b, strict=True)]
    np.testing.assert_array_equal(got, batch(a, b))
    state = init(1)
    np.testing.assert_array_equal([step(state, 0, x, 100.0) for x in a], batch(a, 100.0))


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), KERNELS, ids=IDS)
def test_sparse_updates_use_each_symbols_previous_bar(batch, init, step, update, ref):
    a = np.round(random_walk(300, 3, seed=6))
    b = np.round(random_walk(300, 3, seed=7))
    mask = np.random.default_rng(8).random(a.shape) < 0.5
    for level in (None, 100.0):
        state, row = init(3), np.zeros(3, dtype=np.bool_)
        for t in range(a.shape[0]):
            sym = np.flatnonzero(mask[t])
            before = row.copy()
            update(state, sym, a[t, sym], b[t, sym] if level is None else level, row)
            np.testing.assert_array_equal(np.delete(row, sym), np.delete(before, sym))
            for s in sym:
                m = mask[: t + 1, s]
                bs = b[: t + 1, s][m] if level is None else level
                assert row[s] == bool(ref(a[: t + 1, s][m], bs)), (t, s)


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), KERNELS, ids=IDS)
def test_dense_update_with_constant_a(batch, init, step, update, ref):
    b = np.round(random_walk(200, 3, seed=9))
    state, row = init(3), np.zeros(3, dtype=np.bool_)
    got = np.zeros(b.shape, dtype=np.bool_)
    for t in range(200):
        update(state, None, 100.0, b[t], row)
        got[t] = row
    np.testing.assert_array_equal(got, batch(100.0, b))


# --- barssince --------------------------------------------------------------------------------


def _barssince_reference(cond, default=np.inf):
    return np.array([barssince(cond[: t + 1], default) for t in range(len(cond))], dtype=np.float64)


@pytest.mark.parametrize("default", [np.inf, -1, 0.5, np.nan])
def test_barssince_matches_backtesting_lib(default):
    close = random_walk(400, seed=10)
    fast, slow = SMA(close, 5), SMA(close, 30)
    for cond in (fast > slow, close > 110.0, np.zeros(50, dtype=bool), crossover_batch(fast, slow)):
        got = barssince_batch(cond, default)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, _barssince_reference(cond, default))


def test_barssince_default_is_inf_and_nan_counts_as_true():
    cond = np.array([0.0, 0.0, 1.0, 0.0, np.nan, 0.0, 0.0])
    got = barssince_batch(cond)
    np.testing.assert_array_equal(got, _barssince_reference(cond))
    np.testing.assert_array_equal(got, [np.inf, np.inf, 0, 1, 0, 1, 2])


def test_barssince_2d_out_step_and_sparse():
    cond = random_walk(300, 3, seed=11) > 100
    got = barssince_batch(cond, -1.0)
    for j in range(3):
        np.testing.assert_array_equal(got[:, j], _barssince_reference(cond[:, j], -1.0))
    out = np.empty(cond.shape)
    assert barssince_batch(cond, -1.0, out=out) is out
    np.testing.assert_array_equal(out, got)
    state = barssince_init(1, -1.0)
    np.testing.assert_array_equal([barssince_step(state, 0, c) for c in cond[:, 0]], got[:, 0])
    mask = np.random.default_rng(12).random(cond.shape) < 0.5
    state, row = barssince_init(3), np.full(3, -7.0)
    for t in range(cond.shape[0]):
        sym = np.flatnonzero(mask[t])
        before = row.copy()
        barssince_update(state, sym, cond[t, sym], row)
        np.testing.assert_array_equal(np.delete(row, sym), np.delete(before, sym))
        for s in sym:
            assert row[s] == barssince(cond[: t + 1, s][mask[: t + 1, s]]), (t, s)


def test_barssince_bad_arguments():
    with pytest.raises(ValueError):
        barssince_batch(np.ones(3, dtype=bool), default="soon")
    with pytest.raises(ValueError):
        barssince_batch(np.ones((2, 2, 2)))


def test_specs():
    specs = {s.name: s for s in SPECS}
    assert set(specs) == {"crossover", "crossunder", "cross", "barssince"}
    for name in ("crossover", "crossunder", "cross"):
        assert specs[name].inputs == ("a", "b") and specs[name].out_dtype is np.bool_
        assert specs[name].lookback() == (0,)
    assert specs["barssince"].inputs == ("cond",) and specs["barssince"].defaults() == {"default": np.inf}
    assert specs["barssince"].lookback(**specs["barssince"].defaults()) == (0,)

"""Rolling MAX / MIN against TA-Lib and the Donchian channel against pandas."""

import numpy as np
import pandas as pd
import pytest
import talib

from sqfast.kernels.extrema import (
    SPECS,
    donchian_batch,
    donchian_init,
    donchian_step,
    donchian_update,
    max_batch,
    max_init,
    max_step,
    max_update,
    min_batch,
    min_init,
    min_step,
    min_update,
)
from tests.kernels.support import assert_matches, random_ohlcv, random_walk

EXTREMES = [
    (max_batch, max_init, max_step, max_update, talib.MAX),
    (min_batch, min_init, min_step, min_update, talib.MIN),
]
IDS = ["max", "min"]


def _series():
    """Random walks, rounded walks (many ties), monotone runs and a flat stretch."""
    walk = random_walk(600, seed=1)
    ties = np.round(random_walk(600, seed=2, step=0.5))
    mono = np.concatenate([np.arange(200.0), np.arange(200.0)[::-1], np.full(200, 7.0)])
    return {"walk": walk, "ties": ties, "mono": mono}


def _donchian_reference(high, low, n):
    upper = pd.DataFrame(high).rolling(n).max().to_numpy().reshape(high.shape)
    lower = pd.DataFrame(low).rolling(n).min().to_numpy().reshape(low.shape)
    return upper, (upper + lower) / 2, lower


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), EXTREMES, ids=IDS)
@pytest.mark.parametrize("n", [2, 3, 14, 30])
def test_extreme_matches_talib(batch, init, step, update, ref, n):
    for name, x in _series().items():
        assert_matches(batch(x, n), ref(x, n), name=f"{name} n={n}")


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), EXTREMES, ids=IDS)
def test_extreme_default_period_and_warmup(batch, init, step, update, ref):
    x = random_walk(100, seed=3)
    got = batch(x)
    assert_matches(got, ref(x, 30))
    assert np.isnan(got[:29]).all() and not np.isnan(got[29:]).any()


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), EXTREMES, ids=IDS)
def test_extreme_period_one_is_identity(batch, init, step, update, ref):
    x = random_walk(50, seed=4)
    np.testing.assert_array_equal(batch(x, 1), x)


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), EXTREMES, ids=IDS)
def test_extreme_2d_per_column(batch, init, step, update, ref):
    x = random_walk(400, 5, seed=5)
    got = batch(x, 10)
    assert got.shape == x.shape
    for j in range(x.shape[1]):
        assert_matches(got[:, j], ref(x[:, j], 10), name=f"column {j}")


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), EXTREMES, ids=IDS)
def test_extreme_out_filled_in_place(batch, init, step, update, ref):
    x = random_walk(200, 3, seed=6)
    out = np.empty_like(x)
    assert batch(x, 7, out=out) is out
    np.testing.assert_array_equal(out, batch(x, 7))


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), EXTREMES, ids=IDS)
@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_extreme_bad_period(batch, init, step, update, ref, n):
    with pytest.raises(ValueError):
        batch(random_walk(10), n)
    with pytest.raises(ValueError):
        init(3, n)


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), EXTREMES, ids=IDS)
def test_extreme_step_reproduces_batch(batch, init, step, update, ref):
    x = np.round(random_walk(300, seed=7))
    state = init(1, 9)
    got = np.array([step(state, 0, v) for v in x])
    np.testing.assert_array_equal(got, batch(x, 9))


@pytest.mark.parametrize(("batch", "init", "step", "update", "ref"), EXTREMES, ids=IDS)
def test_extreme_sparse_updates_follow_each_symbol(batch, init, step, update, ref):
    x = np.round(random_walk(300, 4, seed=8))
    mask = np.random.default_rng(9).random(x.shape) < 0.6
    mask[:20] = True  # start in lockstep, then leave it
    state = init(4, 6)
    out = np.full(4, -1.0)
    for t in range(x.shape[0]):
        sym = np.flatnonzero(mask[t])
        before = out.copy()
        update(state, sym if len(sym) < 4 else None, x[t, sym], out)
        untouched = np.setdiff1d(np.arange(4), sym)
        np.testing.assert_array_equal(out[untouched], before[untouched])
        for s in sym:
            expected = batch(x[: t + 1, s][mask[: t + 1, s]], 6)[-1]
            np.testing.assert_array_equal(out[s], expected)


@pytest.mark.parametrize("n", [1, 5, 20])
def test_donchian_matches_pandas(n):
    _, high, low, _, _ = random_ohlcv(500, 3, seed=10)
    got = donchian_batch(high, low, n)
    for g, e, name in zip(got, _donchian_reference(high, low, n), ("upper", "middle", "lower"), strict=True):
        assert_matches(g, e, name=name)


def test_donchian_1d_default_period_and_ties():
    high = np.round(random_walk(300, seed=11)) + 2
    low = high - np.round(np.abs(random_walk(300, seed=12) - 100))
    got = donchian_batch(high, low)
    for g, e in zip(got, _donchian_reference(high, low, 20), strict=True):
        assert g.shape == high.shape
        assert_matches(g, e)
    assert np.isnan(got[0][:19]).all() and not np.isnan(got[0][19:]).any()


def test_donchian_out_filled_in_place():
    _, high, low, _, _ = random_ohlcv(100, 2, seed=13)
    out = tuple(np.empty_like(high) for _ in range(3))
    got = donchian_batch(high, low, 10, out=out)
    for g, o, e in zip(got, out, donchian_batch(high, low, 10), strict=True):
        assert g is o
        np.testing.assert_array_equal(o, e)


def test_donchian_bad_arguments():
    _, high, low, _, _ = random_ohlcv(30, seed=14)
    with pytest.raises(ValueError):
        donchian_batch(high, low, 0)
    with pytest.raises(ValueError):
        donchian_init(2, 1.5)
    with pytest.raises(ValueError):
        donchian_batch(high, low[:-1])
    with pytest.raises(ValueError):
        donchian_batch(high, low, out=(np.empty_like(high),))


def test_donchian_step_reproduces_batch():
    _, high, low, _, _ = random_ohlcv(200, seed=15)
    state = donchian_init(1, 8)
    got = np.array([donchian_step(state, 0, h, lo) for h, lo in zip(high, low, strict=True)])
    for k, expected in enumerate(donchian_batch(high, low, 8)):
        np.testing.assert_array_equal(got[:, k], expected)


def test_donchian_sparse_updates():
    _, high, low, _, _ = random_ohlcv(200, 3, seed=16)
    mask = np.random.default_rng(17).random(high.shape) < 0.5
    state = donchian_init(3, 5)
    out = tuple(np.full(3, -1.0) for _ in range(3))
    for t in range(high.shape[0]):
        sym = np.flatnonzero(mask[t])
        donchian_update(state, sym, high[t, sym], low[t, sym], out)
        for s in sym:
            rows = mask[: t + 1, s]
            expected = donchian_batch(high[: t + 1, s][rows], low[: t + 1, s][rows], 5)
            for k in range(3):
                np.testing.assert_array_equal(out[k][s], expected[k][-1])


def test_specs():
    specs = {s.name: s for s in SPECS}
    assert set(specs) == {"max", "min", "donchian"}
    assert specs["max"].lookback(n=30) == (29,)
    assert specs["donchian"].outputs == ("upper", "middle", "lower")
    assert specs["donchian"].lookback(**specs["donchian"].defaults()) == (19, 19, 19)
    for spec in SPECS:
        x = random_walk(60, 2, seed=18)
        result = spec.batch(*([x] * len(spec.inputs)), **spec.defaults())
        result = result if isinstance(result, tuple) else (result,)
        for r, lb in zip(result, spec.lookback(**spec.defaults()), strict=True):
            assert np.isnan(r[:lb]).all() and not np.isnan(r[lb:]).any()

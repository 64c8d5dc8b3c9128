"""OBV and AD against TA-Lib, the rolling VWAP against pandas."""

import math

import numpy as np
import pandas as pd
import pytest
import talib

from sqfast.kernels.volume import (
    SPECS,
    ad_batch,
    ad_init,
    ad_step,
    ad_update,
    obv_batch,
    obv_init,
    obv_step,
    obv_update,
    vwap_batch,
    vwap_init,
    vwap_step,
    vwap_update,
)
from tests.kernels.support import assert_matches, random_ohlcv


def _ad_reference(high, low, close, volume):
    """TA-Lib AD, which sums naively: allow its rounding drift (~1e-15 of the largest value)."""
    ref = talib.AD(high, low, close, volume)
    return ref, 1e-12 * np.max(np.abs(ref))


def _vwap_reference(high, low, close, volume, n):
    tp = (high + low + close) / 3
    pv = pd.DataFrame(tp * volume).rolling(n).sum().to_numpy()
    v = pd.DataFrame(volume).rolling(n).sum().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = pv / v
    ref[v == 0] = np.nan
    return ref.reshape(np.shape(close))


def _flat_bars(n_bars, seed):
    """Bars with unchanged closes, high == low bars and zero-volume stretches longer than 20."""
    _, high, low, close, volume = random_ohlcv(n_bars, seed=seed)
    close = np.round(close)
    close[50:60] = close[50]
    high = np.maximum(high, close)
    low = np.minimum(low, close)
    high[100:110] = low[100:110] = close[100:110]
    volume[200:230] = 0.0
    volume[300:301] = 0.0
    return high, low, close, volume


# --- OBV ------------------------------------------------------------------------------------


def test_obv_matches_talib():
    _, _, _, close, volume = random_ohlcv(3000, seed=1)
    assert_matches(obv_batch(close, volume), talib.OBV(close, volume))
    _, _, close, volume = _flat_bars(400, seed=2)
    assert_matches(obv_batch(close, volume), talib.OBV(close, volume))


def test_obv_2d_per_column_and_first_value():
    _, _, _, close, volume = random_ohlcv(500, 4, seed=3)
    got = obv_batch(close, volume)
    np.testing.assert_array_equal(got[0], volume[0])
    for j in range(4):
        assert_matches(got[:, j], talib.OBV(close[:, j], volume[:, j]), name=f"column {j}")


def test_obv_out_step_and_sparse():
    _, _, _, close, volume = random_ohlcv(300, 3, seed=4)
    out = np.empty_like(close)
    assert obv_batch(close, volume, out=out) is out
    np.testing.assert_array_equal(out, obv_batch(close, volume))
    state = obv_init(1)
    got = [obv_step(state, 0, c, v) for c, v in zip(close[:, 1], volume[:, 1], strict=True)]
    np.testing.assert_array_equal(got, out[:, 1])
    mask = np.random.default_rng(5).random(close.shape) < 0.5
    state, row = obv_init(3), np.full(3, -1.0)
    for t in range(close.shape[0]):
        sym = np.flatnonzero(mask[t])
        before = row.copy()
        obv_update(state, sym, close[t, sym], volume[t, sym], row)
        np.testing.assert_array_equal(np.delete(row, sym), np.delete(before, sym))
        for s in sym:
            m = mask[: t + 1, s]
            np.testing.assert_array_equal(row[s], obv_batch(close[: t + 1, s][m], volume[: t + 1, s][m])[-1])


# --- AD ---------------------------------------------------------------------------------------


def test_ad_matches_talib():
    _, high, low, close, volume = random_ohlcv(3000, seed=6)
    ref, atol = _ad_reference(high, low, close, volume)
    assert_matches(ad_batch(high, low, close, volume), ref, atol=atol)
    high, low, close, volume = _flat_bars(400, seed=7)
    ref, atol = _ad_reference(high, low, close, volume)
    assert_matches(ad_batch(high, low, close, volume), ref, atol=atol)


def test_ad_2d_per_column():
    _, high, low, close, volume = random_ohlcv(500, 4, seed=8)
    got = ad_batch(high, low, close, volume)
    for j in range(4):
        ref, atol = _ad_reference(high[:, j], low[:, j], close[:, j], volume[:, j])
        assert_matches(got[:, j], ref, atol=atol, name=f"column {j}")


def test_ad_sum_is_compensated():
    """Over a long run the line stays at the exactly rounded prefix sum (TA-Lib drifts)."""
    _, high, low, close, volume = random_ohlcv(20_000, seed=9)
    inc = ((close - low) - (high - close)) / (high - low) * volume
    got = ad_batch(high, low, close, volume)
    for t in range(999, len(inc), 1000):
        exact = math.fsum(inc[: t + 1])
        assert abs(got[t] - exact) <= 2 * np.spacing(abs(exact)), t  # a naive sum is ~100 ulps off here


def test_ad_out_step_and_sparse():
    _, high, low, close, volume = random_ohlcv(300, 3, seed=10)
    out = np.empty_like(close)
    assert ad_batch(high, low, close, volume, out=out) is out
    np.testing.assert_array_equal(out, ad_batch(high, low, close, volume))
    state = ad_init(1)
    bars = zip(high[:, 2], low[:, 2], close[:, 2], volume[:, 2], strict=True)
    got = [ad_step(state, 0, *bar) for bar in bars]
    np.testing.assert_array_equal(got, out[:, 2])
    mask = np.random.default_rng(11).random(close.shape) < 0.5
    state, row = ad_init(3), np.full(3, -1.0)
    for t in range(close.shape[0]):
        sym = np.flatnonzero(mask[t])
        before = row.copy()
        ad_update(state, sym, high[t, sym], low[t, sym], close[t, sym], volume[t, sym], row)
        np.testing.assert_array_equal(np.delete(row, sym), np.delete(before, sym))
        for s in sym:
            m = mask[: t + 1, s]
            cols = (a[: t + 1, s][m] for a in (high, low, close, volume))
            np.testing.assert_array_equal(row[s], ad_batch(*cols)[-1])


# --- VWAP -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 20, 50])
def test_vwap_matches_pandas(n):
    _, high, low, close, volume = random_ohlcv(1000, seed=12)
    assert_matches(vwap_batch(high, low, close, volume, n), _vwap_reference(high, low, close, volume, n))


def test_vwap_zero_volume_windows_are_nan():
    high, low, close, volume = _flat_bars(400, seed=13)
    got = vwap_batch(high, low, close, volume)
    ref = _vwap_reference(high, low, close, volume, 20)
    assert_matches(got, ref)
    assert np.isnan(got[219:230]).all() and not np.isnan(got[230])


def test_vwap_2d_default_period():
    _, high, low, close, volume = random_ohlcv(500, 4, seed=14)
    got = vwap_batch(high, low, close, volume)
    assert got.shape == close.shape
    assert_matches(got, _vwap_reference(high, low, close, volume, 20))
    assert np.isnan(got[:19]).all() and not np.isnan(got[19:]).any()


def test_vwap_out_step_and_sparse():
    _, high, low, close, volume = random_ohlcv(300, 3, seed=15)
    out = np.empty_like(close)
    assert vwap_batch(high, low, close, volume, 7, out=out) is out
    np.testing.assert_array_equal(out, vwap_batch(high, low, close, volume, 7))
    state = vwap_init(1, 7)
    bars = zip(high[:, 0], low[:, 0], close[:, 0], volume[:, 0], strict=True)
    np.testing.assert_array_equal([vwap_step(state, 0, *bar) for bar in bars], out[:, 0])
    mask = np.random.default_rng(16).random(close.shape) < 0.6
    mask[:10] = True  # lockstep first
    state, row = vwap_init(3, 7), np.full(3, -1.0)
    for t in range(close.shape[0]):
        sym = np.flatnonzero(mask[t])
        before = row.copy()
        args = [a[t, sym] for a in (high, low, close, volume)]
        vwap_update(state, None if len(sym) == 3 else sym, *args, row)
        np.testing.assert_array_equal(np.delete(row, sym), np.delete(before, sym))
        for s in sym:
            m = mask[: t + 1, s]
            cols = (a[: t + 1, s][m] for a in (high, low, close, volume))
            np.testing.assert_array_equal(row[s], vwap_batch(*cols, 7)[-1])


def test_vwap_bad_period():
    _, high, low, close, volume = random_ohlcv(30, seed=17)
    for n in (0, -1, 3.5):
        with pytest.raises(ValueError):
            vwap_batch(high, low, close, volume, n)
        with pytest.raises(ValueError):
            vwap_init(2, n)
    with pytest.raises(ValueError):
        vwap_batch(high, low, close, volume[:-1])


def test_specs():
    specs = {s.name: s for s in SPECS}
    assert set(specs) == {"obv", "ad", "vwap"}
    assert specs["obv"].inputs == ("close", "volume")
    assert specs["vwap"].inputs == ("high", "low", "close", "volume")
    _, high, low, close, volume = random_ohlcv(60, 2, seed=18)
    data = {"high": high, "low": low, "close": close, "volume": volume}
    for spec in SPECS:
        result = spec.batch(*(data[k] for k in spec.inputs), **spec.defaults())
        (lb,) = spec.lookback(**spec.defaults())
        assert np.isnan(result[:lb]).all() and not np.isnan(result[lb:]).any()

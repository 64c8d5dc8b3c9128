"""Volatility kernels (TRANGE, ATR, NATR, ADX/+DI/-DI, STDDEV, VAR, BBANDS) against TA-Lib
(pandas' rolling std, ROLLING_STD, is held to pandas in test_pandas_kernels.py; the generic
checks below cover it too).

TA-Lib's window variance carries an absolute rounding error of up to ~10 ulps of x^2 (measured
on these data), so on a window whose variance is tiny next to x^2 it is the less accurate of the
two (up to ~1e-8 relative for period 2). VAR and STDDEV are therefore compared with TA-Lib at
rtol 1e-9 plus that absolute allowance on the variance, and separately against an exact
extended-precision two-pass reference at rtol 1e-12.
"""

import inspect

import numpy as np
import pytest
import talib
from talib import abstract

from sqfast.kernels import volatility as vol
from tests.kernels.support import assert_matches, random_ohlcv, random_walk


def as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def hlc(n_bars, n_symbols=None, seed=0, start=100.0):
    _, high, low, close, _ = random_ohlcv(n_bars, n_symbols, seed=seed, start=start)
    return high, low, close


def _adx_talib(high, low, close, n):
    return (talib.ADX(high, low, close, n), talib.PLUS_DI(high, low, close, n),
            talib.MINUS_DI(high, low, close, n))


# name: (batch, TA-Lib equivalent on 1-D inputs taking the same parameters, inputs, parameter sets)
CASES = {
    "trange": (vol.trange_batch, lambda h, lo, c: talib.TRANGE(h, lo, c), "hlc", [{}]),
    "atr": (vol.atr_batch, lambda h, lo, c, n: talib.ATR(h, lo, c, n), "hlc",
            [{"n": 14}, {"n": 1}, {"n": 2}, {"n": 7}, {"n": 30}]),
    "natr": (vol.natr_batch, lambda h, lo, c, n: talib.NATR(h, lo, c, n), "hlc",
             [{"n": 14}, {"n": 1}, {"n": 2}, {"n": 9}]),
    "adx": (vol.adx_batch, _adx_talib, "hlc", [{"n": 14}, {"n": 2}, {"n": 5}, {"n": 30}]),
    "stddev": (vol.stddev_batch, lambda x, n, nbdev: talib.STDDEV(x, n, nbdev), "x",
               [{"n": 5, "nbdev": 1.0}, {"n": 2, "nbdev": 1.0}, {"n": 20, "nbdev": 2.5}]),
    "var": (vol.var_batch, lambda x, n: talib.VAR(x, n), "x", [{"n": 5}, {"n": 1}, {"n": 2}, {"n": 50}]),
    "bbands": (vol.bbands_batch, lambda x, n, up, dn: talib.BBANDS(x, n, up, dn, 0), "x",
               [{"n": 20, "nbdevup": 2.0, "nbdevdn": 2.0}, {"n": 5, "nbdevup": 2.0, "nbdevdn": 2.0},
                {"n": 2, "nbdevup": 1.0, "nbdevdn": 1.0}, {"n": 10, "nbdevup": 1.5, "nbdevdn": 3.0}]),
}
CASE_IDS = [(name, i) for name, case in CASES.items() for i in range(len(case[3]))]


def inputs_for(kind, n_bars, n_symbols=None, seed=0, start=100.0):
    h, lo, c = hlc(n_bars, n_symbols, seed=seed, start=start)
    return [h, lo, c] if kind == "hlc" else [c]


TALIB_VAR_ULPS = 64 * np.finfo(np.float64).eps


def compare(name, got, expected, inputs, params, label):
    """`got` against TA-Lib's `expected`: rtol 1e-9, plus TA-Lib's own variance rounding for VAR/STDDEV."""
    if name in ("var", "stddev"):
        atol = TALIB_VAR_ULPS * float(np.max(np.abs(inputs[0]))) ** 2
        if name == "stddev":  # compare the variances the deviations imply
            got, expected = (got / params["nbdev"]) ** 2, (expected / params["nbdev"]) ** 2
        assert_matches(got, expected, rtol=1e-9, atol=atol, name=label)
    else:
        assert_matches(got, expected, name=label)


def exact_window_variance(x, n):
    """Population variance of every full window, two-pass in extended precision."""
    w = np.lib.stride_tricks.sliding_window_view(np.asarray(x, dtype=np.longdouble), n)
    return ((w - w.mean(axis=1, keepdims=True)) ** 2).mean(axis=1).astype(np.float64)


def theirs(name, inputs, params):
    """TA-Lib's outputs for 1-D inputs, as a tuple."""
    return as_tuple(CASES[name][1](*inputs, *params.values()))


@pytest.mark.parametrize(("name", "which"), CASE_IDS)
def test_equals_talib_one_symbol(name, which):
    ours, _, kind, param_sets = CASES[name]
    params = param_sets[which]
    inputs = inputs_for(kind, 700, seed=11 + which)
    got = as_tuple(ours(*inputs, **params))
    expected = theirs(name, inputs, params)
    assert len(got) == len(expected)
    for j, (g, e) in enumerate(zip(got, expected, strict=True)):
        compare(name, g, e, inputs, params, f"{name}{params} output {j}")


@pytest.mark.parametrize(("name", "which"), CASE_IDS)
def test_equals_talib_per_column(name, which):
    ours, _, kind, param_sets = CASES[name]
    params = param_sets[which]
    inputs = inputs_for(kind, 400, 6, seed=3)
    got = as_tuple(ours(*inputs, **params))
    for col in range(6):
        expected = theirs(name, [x[:, col] for x in inputs], params)
        for j, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert g.shape == (400, 6)
            compare(name, g[:, col], e, [x[:, col] for x in inputs], params,
                    f"{name}{params} output {j} column {col}")


def test_defaults_equal_talib_defaults():
    h, lo, c = hlc(300, seed=5)
    assert_matches(vol.trange_batch(h, lo, c), talib.TRANGE(h, lo, c))
    assert_matches(vol.atr_batch(h, lo, c), talib.ATR(h, lo, c))
    assert_matches(vol.natr_batch(h, lo, c), talib.NATR(h, lo, c))
    for g, e in zip(vol.adx_batch(h, lo, c), (talib.ADX(h, lo, c), talib.PLUS_DI(h, lo, c),
                                             talib.MINUS_DI(h, lo, c)), strict=True):
        assert_matches(g, e)
    assert_matches(vol.stddev_batch(c), talib.STDDEV(c))
    assert_matches(vol.var_batch(c), talib.VAR(c))
    for g, e in zip(vol.bbands_batch(c), talib.BBANDS(c), strict=True):  # TA-Lib 0.8 default period: 20
        assert_matches(g, e)


TALIB_FUNCTIONS = {"trange": ["TRANGE"], "atr": ["ATR"], "natr": ["NATR"],
                   "adx": ["ADX", "PLUS_DI", "MINUS_DI"], "stddev": ["STDDEV"], "var": ["VAR"],
                   "bbands": ["BBANDS"] * 3}
TALIB_PARAM_NAMES = {"n": "timeperiod"}


@pytest.mark.parametrize("spec", [s for s in vol.SPECS if s.name in TALIB_FUNCTIONS], ids=lambda s: s.name)
def test_spec_defaults_and_lookback_equal_talib(spec):
    batch_defaults = {k: p.default for k, p in inspect.signature(spec.batch).parameters.items()
                      if p.default is not inspect.Parameter.empty and k != "out"}
    assert spec.defaults() == batch_defaults
    for params in [spec.defaults(), *[p for p in CASES[spec.name][3] if p]]:
        lookbacks = spec.lookback(**params)
        assert len(lookbacks) == len(spec.outputs)
        for fname, lookback in zip(TALIB_FUNCTIONS[spec.name], lookbacks, strict=True):
            fn = abstract.Function(fname)
            fn.set_parameters({TALIB_PARAM_NAMES.get(k, k): v for k, v in params.items()})
            assert lookback == fn.lookback, f"{spec.name}{params} {fname}"


@pytest.mark.parametrize("spec", vol.SPECS, ids=lambda s: s.name)
def test_out_is_filled_in_place(spec):
    inputs = inputs_for("hlc" if spec.inputs == ("high", "low", "close") else "x", 120, 4, seed=2)
    expected = as_tuple(spec.batch(*inputs))
    outs = tuple(np.full_like(inputs[0], -1.0) for _ in spec.outputs)
    result = spec.batch(*inputs, out=outs if len(outs) > 1 else outs[0])
    for r, o, e in zip(as_tuple(result), outs, expected, strict=True):
        assert r is o
        assert np.array_equal(o, e, equal_nan=True)


def test_out_of_the_wrong_shape_is_rejected():
    x = random_walk(50, 3)
    with pytest.raises(ValueError):
        vol.var_batch(x, out=np.empty((50, 2)))
    with pytest.raises(ValueError):
        vol.bbands_batch(x, 5, out=(np.empty_like(x), np.empty_like(x)))


@pytest.mark.parametrize(
    ("init", "kwargs"),
    [
        (vol.atr_init, {"n": 0}), (vol.natr_init, {"n": 0}), (vol.atr_init, {"n": 2.5}),
        (vol.adx_init, {"n": 1}), (vol.adx_init, {"n": 0}),
        (vol.var_init, {"n": 0}),
        (vol.stddev_init, {"n": 1}), (vol.stddev_init, {"nbdev": float("nan")}),
        (vol.bbands_init, {"n": 1}), (vol.bbands_init, {"nbdevup": float("inf")}),
        (vol.bbands_init, {"nbdevdn": "wide"}),
    ],
)
def test_bad_parameters_raise(init, kwargs):
    with pytest.raises(ValueError):
        init(3, **kwargs)


def test_bad_parameters_raise_from_batch_too():
    x = random_walk(30)
    with pytest.raises(ValueError, match="n must be"):
        vol.stddev_batch(x, n=1)
    with pytest.raises(ValueError, match="n must be"):
        vol.adx_batch(x + 1, x - 1, x, n=1)


@pytest.mark.parametrize("spec", vol.SPECS, ids=lambda s: s.name)
def test_step_on_one_symbol_reproduces_the_batch_column(spec):
    params = {k: (4 if k == "n" else v) for k, v in spec.defaults().items()}
    inputs = inputs_for("hlc" if spec.inputs == ("high", "low", "close") else "x", 150, 3, seed=8)
    expected = as_tuple(spec.batch(*inputs, **params))
    state = spec.init(3, **params)
    for t in range(150):
        got = as_tuple(spec.step(state, 1, *[x[t, 1] for x in inputs]))
        for g, e in zip(got, expected, strict=True):
            assert np.array_equal(g, e[t, 1], equal_nan=True), f"{spec.name} bar {t}"


@pytest.mark.parametrize("spec", vol.SPECS, ids=lambda s: s.name)
def test_lockstep_then_per_symbol_updates_equal_the_batch_bit_for_bit(spec):
    params = {k: (6 if k == "n" else v) for k, v in spec.defaults().items()}
    n_bars, n_symbols = 100, 5
    inputs = inputs_for("hlc" if spec.inputs == ("high", "low", "close") else "x", n_bars, n_symbols, seed=4)
    expected = as_tuple(spec.batch(*inputs, **params))
    state = spec.init(n_symbols, **params)
    everyone = np.arange(n_symbols)
    for t in range(n_bars):
        outs = tuple(np.full(n_symbols, -1.0) for _ in spec.outputs)
        sym = None if t < 37 else everyone  # an explicit row list ends lockstep
        spec.update(state, sym, *[x[t] for x in inputs], outs if len(outs) > 1 else outs[0])
        for o, e in zip(outs, expected, strict=True):
            assert np.array_equal(o, e[t], equal_nan=True), f"{spec.name} bar {t}"


# --- edge cases, each against TA-Lib -------------------------------------------------------------


@pytest.mark.parametrize("start", [100.0, 30_000.0, 0.37])
def test_flat_windows_give_exactly_zero_variance_like_talib(start):
    x = random_walk(200, seed=9, start=start, step=start / 100)
    x[80:110] = x[80]
    for n in (2, 5, 20):
        var = vol.var_batch(x, n)
        std = vol.stddev_batch(x, n, 2.0)
        upper, middle, lower = vol.bbands_batch(x, n)
        flat = slice(80 + n - 1, 110)
        assert (var[flat] == 0.0).all() and (std[flat] == 0.0).all()
        assert np.array_equal(upper[flat], middle[flat]) and np.array_equal(lower[flat], middle[flat])
        assert_matches(var, talib.VAR(x, n), name=f"VAR({n})")
        assert_matches(std, talib.STDDEV(x, n, 2.0), name=f"STDDEV({n})")
        for g, e in zip((upper, middle, lower), talib.BBANDS(x, n), strict=True):
            assert_matches(g, e, name=f"BBANDS({n})")


def test_tiny_nonzero_deviation_is_not_zeroed_like_talib_08():
    # TA-Lib before 0.8 returned STDDEV 0 below a variance of 1e-8; 0.8 (#243) does not.
    for d in (1e-3, 1e-6, 1e-9):
        x = np.r_[np.ones(4), 1.0 + d, np.ones(6)]
        assert vol.stddev_batch(x, 5)[4] > 0
        assert_matches(vol.stddev_batch(x, 5), talib.STDDEV(x, 5), rtol=1e-6, name=f"STDDEV d={d}")
        assert_matches(vol.var_batch(x, 5), talib.VAR(x, 5), rtol=1e-6, name=f"VAR d={d}")
        for g, e in zip(vol.bbands_batch(x, 5), talib.BBANDS(x, 5), strict=True):
            assert_matches(g, e, name=f"BBANDS d={d}")


@pytest.mark.parametrize(("start", "tick"), [(30_000.0, 0.01), (30_000.0, 0.5), (100.0, 0.01)])
def test_tick_grid_prices_with_many_repeats_equal_talib(start, tick):
    # Prices on a tick grid that mostly do not move (1-second bars): many flat and near-flat windows.
    rng = np.random.default_rng(21)
    x = np.round(start / tick + np.cumsum(rng.choice([-1, 0, 0, 0, 0, 0, 1], size=(3000, 2)), axis=0)) * tick
    for n in (2, 5, 20):
        for col in range(2):
            xc = x[:, col]
            assert_matches(vol.var_batch(x, n)[:, col], talib.VAR(xc, n), name=f"VAR({n})")
            assert_matches(vol.stddev_batch(x, n)[:, col], talib.STDDEV(xc, n), name=f"STDDEV({n})")
            for g, e in zip(vol.bbands_batch(x, n), talib.BBANDS(xc, n), strict=True):
                assert_matches(g[:, col], e, name=f"BBANDS({n})")


@pytest.mark.parametrize("start", [100.0, 30_000.0])
@pytest.mark.parametrize("n", [2, 3, 5, 20, 60])
def test_variance_is_accurate_against_an_exact_two_pass_reference(start, n):
    x = random_walk(6_000, 3, seed=n, start=start)
    var = vol.var_batch(x, n)
    std = vol.stddev_batch(x, n, 1.5)
    middle = vol.bbands_batch(x, n)[1]
    for col in range(3):
        exact = exact_window_variance(x[:, col], n)
        np.testing.assert_allclose(var[n - 1:, col], exact, rtol=1e-12, atol=0)
        np.testing.assert_allclose(std[n - 1:, col], 1.5 * np.sqrt(exact), rtol=1e-12, atol=0)
        windows = np.lib.stride_tricks.sliding_window_view(x[:, col].astype(np.longdouble), n)
        np.testing.assert_allclose(middle[n - 1:, col], windows.mean(axis=1).astype(np.float64), rtol=1e-14,
                                   atol=1e-14 * np.max(np.abs(x)))


def test_natr_is_zero_where_close_is_zero_and_period_one_is_talibs_true_range():
    h, lo, c = hlc(60, seed=6, start=50.0)
    c[20] = 0.0
    lo[20] = 0.0
    assert vol.natr_batch(h, lo, c, 5)[20] == 0.0
    assert_matches(vol.natr_batch(h, lo, c, 5), talib.NATR(h, lo, c, 5))
    # TA-Lib quirk kept: NATR with period 1 is the unnormalised true range.
    assert_matches(vol.natr_batch(h, lo, c, 1), talib.TRANGE(h, lo, c))
    assert_matches(vol.natr_batch(h, lo, c, 1), talib.NATR(h, lo, c, 1))


def test_adx_on_flat_bars_and_after_the_directional_movement_decays_away():
    # Constant bars: true range 0, so +DI = -DI = 0 and DX is undefined (ADX stays 0).
    flat = np.full(40, 10.0)
    for g, e in zip(vol.adx_batch(flat, flat, flat, 4), _adx_talib(flat, flat, flat, 4), strict=True):
        assert_matches(g, e, name="flat")
    # An up-trend, then inside bars until the smoothed +DM underflows to 0 while TR stays positive.
    up = np.arange(30, dtype=float)
    high = np.r_[up + 1.0, np.full(1300, 30.0)]
    low = np.r_[up, np.full(1300, 29.0)]
    close = (high + low) / 2
    for n in (2, 3):
        for g, e in zip(vol.adx_batch(high, low, close, n), _adx_talib(high, low, close, n), strict=True):
            assert_matches(g, e, name=f"decay n={n}")
    # Tiny true ranges are not treated as zero (TA-Lib 0.8 tests exactly against 0).
    h = np.full(20, 30_000.0)
    h[10:] += np.spacing(30_000.0) * np.arange(1, 11)
    lo = np.full(20, 30_000.0)
    for g, e in zip(vol.adx_batch(h, lo, lo, 3), _adx_talib(h, lo, lo, 3), strict=True):
        assert_matches(g, e, name="tiny range")


def test_trange_follows_talibs_formula_on_inverted_bars():
    h, lo, c = hlc(80, seed=7)
    h[10], lo[10] = lo[10], h[10]  # high < low: TA-Lib still takes max(h - l, |yc - h|, |yc - l|)
    assert_matches(vol.trange_batch(h, lo, c), talib.TRANGE(h, lo, c))
    assert_matches(vol.atr_batch(h, lo, c, 5), talib.ATR(h, lo, c, 5))


def test_update_leaves_other_rows_and_lockstep_flag_alone():
    state = vol.var_init(4, 3)
    out = np.full(4, -7.0)
    vol.var_update(state, None, np.array([1.0, 2.0, 3.0, 4.0]), out)
    assert state.lock[0] == 1
    out[:] = -7.0
    vol.var_update(state, np.array([2]), np.array([5.0]), out)
    assert state.lock[0] == 0
    assert out[0] == -7.0 and out[1] == -7.0 and out[3] == -7.0
    assert np.array_equal(state.count, [1, 1, 2, 1])

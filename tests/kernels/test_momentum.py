"""Momentum kernels against TA-Lib: batch (1-D and 2-D), `out=`, step, sparse updates, zero rules."""

import numpy as np
import pytest
import talib

from sqfast.kernels import momentum as mo
from tests.kernels.support import assert_matches, random_ohlcv, random_walk, warmup

# TA-Lib keeps STOCH/STOCHRSI's SMA of %K and MFI's flow sums as plain running sums: where the exact
# value is 0 (a window of %K = 0, no positive flow) TA-Lib returns its rounding residue (~1e-13) and
# the compensated kernels return 0. On a 0..100 scale an absolute 1e-9 tolerance covers that and
# nothing else.
OSC_ATOL = 1e-9


def _hlc(d):
    return d["high"], d["low"], d["close"]


# name -> (TA-Lib reference taking the inputs dict and the kernel's params, absolute tolerance)
REFERENCES = {
    "rsi": (lambda d, n=14: talib.RSI(d["x"], n), 0.0),
    "macd": (lambda d, fast=12, slow=26, signal=9: talib.MACD(d["x"], fast, slow, signal), 0.0),
    "roc": (lambda d, n=10: talib.ROC(d["x"], n), 0.0),
    "mom": (lambda d, n=10: talib.MOM(d["x"], n), 0.0),
    "stoch": (lambda d, fastk_period=5, slowk_period=3, slowd_period=3:
              talib.STOCH(*_hlc(d), fastk_period, slowk_period, 0, slowd_period, 0), OSC_ATOL),
    "stochrsi": (lambda d, n=14, fastk_period=5, fastd_period=3:
                 talib.STOCHRSI(d["x"], n, fastk_period, fastd_period, 0), OSC_ATOL),
    "willr": (lambda d, n=14: talib.WILLR(*_hlc(d), n), 0.0),
    "cci": (lambda d, n=14: talib.CCI(*_hlc(d), n), 0.0),
    "mfi": (lambda d, n=14: talib.MFI(*_hlc(d), d["volume"], n), OSC_ATOL),
}

PARAMS = {
    "rsi": [{}, {"n": 2}, {"n": 30}],
    "macd": [{}, {"fast": 5, "slow": 35, "signal": 5}, {"fast": 26, "slow": 12, "signal": 1},
             {"fast": 7, "slow": 7, "signal": 3}],
    "roc": [{}, {"n": 1}, {"n": 25}],
    "mom": [{}, {"n": 1}, {"n": 25}],
    "stoch": [{}, {"fastk_period": 14, "slowk_period": 3, "slowd_period": 3},
              {"fastk_period": 1, "slowk_period": 1, "slowd_period": 1},
              {"fastk_period": 9, "slowk_period": 1, "slowd_period": 6}],
    "stochrsi": [{}, {"n": 9, "fastk_period": 14, "fastd_period": 1},
                 {"n": 2, "fastk_period": 1, "fastd_period": 4}],
    "willr": [{}, {"n": 2}, {"n": 50}],
    "cci": [{}, {"n": 2}, {"n": 20}],
    "mfi": [{}, {"n": 2}, {"n": 30}],
}

SPECS = {spec.name: spec for spec in mo.SPECS}
CASES = [pytest.param(name, p, id=f"{name}-{'-'.join(map(str, p.values())) or 'default'}")
         for name, sets in PARAMS.items() for p in sets]


def market(n_bars, n_symbols=None, seed=0):
    _, high, low, close, volume = random_ohlcv(n_bars, n_symbols, seed=seed)
    return {"x": close, "high": high, "low": low, "close": close, "volume": volume}


def as_tuple(v):
    return v if isinstance(v, tuple) else (v,)


def run_batch(name, d, params, out=None):
    spec = SPECS[name]
    return spec.batch(*(d[k] for k in spec.inputs), **params, out=out)


def check_against_talib(name, d, params, actual):
    ref, atol = REFERENCES[name]
    expected = as_tuple(ref(d, **params))
    actual = as_tuple(actual)
    assert len(actual) == len(expected) == len(SPECS[name].outputs)
    for j, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert_matches(a, e, atol=atol, name=f"{name}{params}[{SPECS[name].outputs[j]}]")


# --- TA-Lib equality ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "params"), CASES)
def test_batch_1d_matches_talib(name, params):
    d = market(1500, seed=1)
    check_against_talib(name, d, params, run_batch(name, d, params))


@pytest.mark.parametrize(("name", "params"), CASES)
def test_batch_2d_matches_talib_per_column(name, params):
    d = market(700, 5, seed=2)
    actual = as_tuple(run_batch(name, d, params))
    for a in actual:
        assert a.shape == (700, 5)
    for s in range(5):
        column = {k: np.ascontiguousarray(v[:, s]) for k, v in d.items()}
        check_against_talib(name, column, params, tuple(a[:, s] for a in actual))


@pytest.mark.parametrize(("name", "params"), CASES)
def test_lookback_is_first_valid_index(name, params):
    spec = SPECS[name]
    lookback = spec.lookback(**{**spec.defaults(), **params})
    outs = as_tuple(run_batch(name, market(200, seed=3), params))
    assert lookback == tuple(warmup(o) for o in outs)


BIT_EXACT = [("rsi", {}), ("rsi", {"n": 5}), ("macd", {}), ("macd", {"fast": 26, "slow": 12, "signal": 1}),
             ("roc", {}), ("mom", {}), ("willr", {}), ("cci", {}), ("cci", {"n": 3}),
             ("stoch", {"fastk_period": 5, "slowk_period": 1, "slowd_period": 1}),
             ("stochrsi", {"n": 14, "fastk_period": 5, "fastd_period": 1})]


@pytest.mark.parametrize(("name", "params"), BIT_EXACT)
def test_bit_exact_where_talib_has_no_running_sum(name, params):
    """Same operations in TA-Lib's order (its reciprocal multiply in RSI, its fused EMA step in MACD,
    its summation order in CCI): equal to the last bit, so no cancellation can amplify a difference."""
    d = market(3000, seed=22)
    ref, _ = REFERENCES[name]
    for a, e in zip(as_tuple(run_batch(name, d, params)), as_tuple(ref(d, **params)), strict=True):
        assert_matches(a, e, rtol=0.0)


def test_close_outside_its_bar_like_talib():
    """WILLR clamps to [-100, 0] (TA-Lib 0.8); STOCH's %K does not."""
    d = market(400, seed=23)
    d["close"] = d["x"] = d["x"].copy()
    d["x"][[100, 200]] = [d["high"][80:101].max() * 1.02, d["low"][180:201].min() * 0.98]
    for name in ("willr", "stoch", "cci"):
        check_against_talib(name, d, {}, run_batch(name, d, {}))
    w = mo.willr_batch(*_hlc(d))
    assert w[100] == 0.0 and w[200] == -100.0
    assert mo.stoch_batch(*_hlc(d), 5, 1, 1)[0][100] > 100.0


# --- out=, step, update ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", PARAMS)
def test_out_is_filled_in_place(name):
    d = market(300, 3, seed=4)
    k = len(SPECS[name].outputs)
    bufs = tuple(np.full((300, 3), 7.0) for _ in range(k))
    result = run_batch(name, d, {}, out=bufs if k > 1 else bufs[0])
    for r, b in zip(as_tuple(result), bufs, strict=True):
        assert r is b
    for r, e in zip(as_tuple(result), as_tuple(run_batch(name, d, {})), strict=True):
        assert_matches(r, e)


@pytest.mark.parametrize("name", PARAMS)
def test_bad_out_is_refused(name):
    d = market(50, seed=5)
    k = len(SPECS[name].outputs)
    bad = tuple(np.empty(49) for _ in range(k))
    with pytest.raises(ValueError, match="out"):
        run_batch(name, d, {}, out=bad if k > 1 else bad[0])


@pytest.mark.parametrize(("name", "params"), CASES)
def test_step_reproduces_batch_column(name, params):
    spec = SPECS[name]
    d = market(400, 3, seed=6)
    expected = as_tuple(run_batch(name, d, params))
    s = 1
    state = spec.init(3, **params)
    got = np.full((len(expected), 400), np.nan)
    for t in range(400):
        got[:, t] = as_tuple(spec.step(state, s, *(d[k][t, s] for k in spec.inputs)))
    for j, e in enumerate(expected):
        assert_matches(got[j], e[:, s], rtol=0.0, name=f"{name}[{j}]")  # same operations: exact


@pytest.mark.parametrize("name", PARAMS)
def test_sparse_update_matches_batch_and_leaves_other_rows(name):
    """Symbols skipping bars keep their own windows; rows not in `sym` are never written."""
    spec = SPECS[name]
    n_sym, n_bars = 4, 300
    d = market(n_bars, n_sym, seed=7)
    rng = np.random.default_rng(8)
    mask = rng.random((n_bars, n_sym)) < 0.6
    mask[:, 0] = True  # one symbol sees every bar
    k = len(spec.outputs)
    state = spec.init(n_sym)
    got = np.full((k, n_bars, n_sym), np.nan)
    for t in range(n_bars):
        sym = np.flatnonzero(mask[t])
        out = tuple(np.full(n_sym, -12345.0) for _ in range(k))
        spec.update(state, sym, *(d[name_][t, sym] for name_ in spec.inputs), out if k > 1 else out[0])
        for j in range(k):
            untouched = np.ones(n_sym, bool)
            untouched[sym] = False
            assert np.all(out[j][untouched] == -12345.0)
            got[j, t, sym] = out[j][sym]
    for s in range(n_sym):
        rows = mask[:, s]
        column = {key: np.ascontiguousarray(v[rows, s]) for key, v in d.items()}
        expected = as_tuple(run_batch(name, column, {}))
        for j in range(k):
            assert_matches(got[j, rows, s], expected[j], rtol=0.0, name=f"{name}[{j}] sym {s}")


def test_dense_update_leaves_lockstep_after_a_sparse_bar():
    """`sym=None` uses the shared slot only while all symbols are in step; one sparse bar ends it."""
    d = market(120, 3, seed=9)
    state = mo.cci_init(3)
    out = np.empty(3)
    got = np.empty((120, 3))
    for t in range(120):
        h, lo, c = d["high"][t], d["low"][t], d["close"][t]
        if t == 30:
            mo.cci_update(state, np.array([2]), h[2:], lo[2:], c[2:], out)
            mo.cci_update(state, np.array([0, 1]), h[:2], lo[:2], c[:2], out)
        else:
            mo.cci_update(state, None, h, lo, c, out)
        got[t] = out
    assert state.lock[0] == 0
    assert_matches(got, mo.cci_batch(d["high"], d["low"], d["close"]))


# --- parameters ----------------------------------------------------------------------------------

BAD_PARAMS = {
    "rsi": [{"n": 0}, {"n": 1}, {"n": 2.5}],
    "macd": [{"fast": 1}, {"slow": 0}, {"signal": 0}],
    "roc": [{"n": 0}, {"n": -3}],
    "mom": [{"n": 0}, {"n": 1.5}],
    "stoch": [{"fastk_period": 0}, {"slowk_period": 0}, {"slowd_period": 0}],
    "stochrsi": [{"n": 1}, {"fastk_period": 0}, {"fastd_period": 0}],
    "willr": [{"n": 1}, {"n": 0}],
    "cci": [{"n": 1}],
    "mfi": [{"n": 1}],
}


@pytest.mark.parametrize(("name", "params"), [(n, p) for n, ps in BAD_PARAMS.items() for p in ps])
def test_bad_parameter_raises(name, params):
    spec = SPECS[name]
    with pytest.raises(ValueError, match=next(iter(params))):
        run_batch(name, market(50, seed=10), params)
    with pytest.raises(ValueError):
        spec.init(2, **params)


def test_minimum_parameters_agree_with_talib():
    """The smallest accepted values are TA-Lib's; one below, TA-Lib refuses too."""
    x = random_walk(60, seed=11)
    with pytest.raises(Exception, match="BAD_PARAM"):
        talib.RSI(x, 1)
    assert_matches(mo.rsi_batch(x, 2), talib.RSI(x, 2))
    assert_matches(mo.mom_batch(x, 1), talib.MOM(x, 1))


# --- zero rules and other edges ------------------------------------------------------------------


def _flat_middle(d, lo, hi, value=100.0):
    """Replace bars lo..hi of every input by one constant bar (volume kept)."""
    d = {k: v.copy() for k, v in d.items()}
    for key in ("x", "high", "low", "close"):
        d[key][lo:hi] = value
    d["close"] = d["x"]
    return d


@pytest.mark.parametrize("name", ["stoch", "stochrsi", "willr", "cci", "mfi"])
def test_flat_segment_zero_rules(name):
    """A long flat stretch hits TA-Lib's zero rules (a flat HH/LL range, also of the RSI that STOCHRSI
    ranges over, zero mean deviation, no typical-price change); the outputs there are 0, as in TA-Lib."""
    d = _flat_middle(market(1200, seed=12), 300, 900)
    actual = as_tuple(run_batch(name, d, {}))
    check_against_talib(name, d, {}, actual)
    tail = slice(880, 900)
    for a in actual:
        assert np.all(a[tail] == 0.0), a[tail]


def test_rsi_keeps_its_ratio_through_a_flat_segment():
    """TA-Lib 0.8 zeroes RSI only when gain + loss is exactly 0: on a flat stretch both averages decay
    geometrically and the RSI holds its last ratio (older TA-Lib zeroed it below 1e-8)."""
    d = _flat_middle(market(1200, seed=12), 300, 900)
    got = mo.rsi_batch(d["x"])
    assert_matches(got, talib.RSI(d["x"]))
    assert 0.0 < got[899] < 100.0
    np.testing.assert_allclose(got[880:900], got[880], rtol=1e-12)


def _flat_middle_near(d, lo, hi, value=100.0):
    """Like `_flat_middle`, with sub-epsilon jitter (a few ulp) in the prices."""
    d = _flat_middle(d, lo, hi, value)
    jitter = np.random.default_rng(0).integers(-3, 4, hi - lo) * np.spacing(value)
    for key in ("high", "low", "x"):
        d[key][lo:hi] += jitter
    d["close"] = d["x"]
    return d


@pytest.mark.parametrize("name", ["stoch", "willr", "cci", "mfi"])
def test_nearly_flat_segment_counts_as_flat(name):
    """TA-Lib's scaled dead-zone (|difference| <= 1e-14 * magnitude): ulp-level noise is no range.

    (Not STOCHRSI: the RSI of ulp noise is a genuine ratio, not flat; TA-Lib agrees.)"""
    d = _flat_middle_near(market(1200, seed=19), 300, 900)
    actual = as_tuple(run_batch(name, d, {}))
    check_against_talib(name, d, {}, actual)
    for a in actual:
        assert np.all(a[880:900] == 0.0), a[880:900]


def test_flat_from_the_start():
    d = _flat_middle(market(100, seed=13), 0, 100)
    for name in ("rsi", "stoch", "stochrsi", "willr", "cci", "mfi", "mom", "roc"):
        actual = as_tuple(run_batch(name, d, {}))
        check_against_talib(name, d, {}, actual)
        for a in actual:
            assert np.all(a[~np.isnan(a)] == 0.0), name


def test_roc_of_zero_is_zero():
    x = random_walk(200, seed=14)
    x[[20, 50, 51, 52]] = 0.0
    got = mo.roc_batch(x, 10)
    assert_matches(got, talib.ROC(x, 10))
    assert got[30] == 0.0 and got[61] == 0.0


def test_mfi_small_flows_are_not_zeroed():
    """TA-Lib 0.8 dropped the old "0 when the total flow is below 1" rule: MFI is a ratio."""
    d = market(300, seed=15)
    d["volume"] = np.full(300, 1e-4)
    got = mo.mfi_batch(*_hlc(d), d["volume"])
    assert_matches(got, talib.MFI(*_hlc(d), d["volume"]), atol=OSC_ATOL)
    assert np.all(got[14:] > 0.0)
    assert_matches(got, mo.mfi_batch(*_hlc(d), d["volume"] * 1e8))


def test_mfi_zero_volume_window_is_zero():
    d = market(200, seed=20)
    d["volume"][50:100] = 0.0
    got = mo.mfi_batch(*_hlc(d), d["volume"])
    assert_matches(got, talib.MFI(*_hlc(d), d["volume"]), atol=OSC_ATOL)
    assert np.all(got[64:100] == 0.0)


def test_macd_swaps_fast_and_slow_like_talib():
    x = random_walk(300, seed=16)
    for a, b in zip(mo.macd_batch(x, 26, 12, 9), mo.macd_batch(x, 12, 26, 9), strict=True):
        assert_matches(a, b, rtol=0.0)


def test_short_history_is_all_nan():
    d = market(8, 2, seed=17)  # one bar short of STOCH's default warm-up, the shortest here
    for name in PARAMS:
        for a in as_tuple(run_batch(name, d, {})):
            assert a.shape == (8, 2) and np.isnan(a).all(), name


def test_no_drift_over_a_long_run():
    """Compensated window sums: after 200k bars the result still equals a fresh start's."""
    d = market(200_000, seed=18)
    tail = {k: v[-500:].copy() for k, v in d.items()}
    for name in ("mfi", "stoch"):
        long_run = as_tuple(run_batch(name, d, {}))
        fresh = as_tuple(run_batch(name, tail, {}))
        for a, b in zip(long_run, fresh, strict=True):
            np.testing.assert_allclose(a[-100:], b[-100:], rtol=1e-11, atol=1e-11, err_msg=name)


# --- catalog --------------------------------------------------------------------------------------


def test_specs_are_complete():
    assert list(SPECS) == list(PARAMS)
    inputs = {"x", "high", "low", "close", "volume"}
    for spec in mo.SPECS:
        assert set(spec.inputs) <= inputs
        for fn in (spec.init, spec.update, spec.step, spec.batch):
            assert fn.__name__ in mo.__all__ or getattr(fn, "py_func", fn).__name__ in mo.__all__
        assert "TA-Lib" in spec.reference
        assert len(spec.lookback(**spec.defaults())) == len(spec.outputs)
    for name in mo.__all__:
        assert hasattr(mo, name)


@pytest.mark.parametrize("name", ["rsi_step", "macd_step", "roc_step", "mom_step", "stoch_step",
                                  "stochrsi_step", "willr_step", "cci_step", "mfi_step",
                                  "rsi_batch", "macd_batch", "roc_batch", "mom_batch", "stoch_batch",
                                  "stochrsi_batch", "willr_batch", "cci_batch", "mfi_batch"])
def test_docstrings_name_reference_and_finite_inputs(name):
    doc = getattr(mo, name).__doc__
    assert "TA-Lib" in doc and "finite" in doc

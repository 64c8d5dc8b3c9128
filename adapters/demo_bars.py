"""Seeded synthetic bars in which every bar is a pure function of (seed, symbol, granularity, start).

So the demo feed's warm-up history and its live stream agree, and a restarted run sees the same
bars, without replaying anything from a fixed origin. Randomness is counter-based: a splitmix64
hash of (seed, symbol name, granularity, stream, counter), over all symbols at once (numpy, and
one Numba kernel for the bulk of a block).

The log price is a Brownian motion in bar time with a per-symbol drift and volatility:
- at the boundaries of blocks of `BLOCK` bars its value comes from a dyadic Brownian-bridge tree
  over block indices (Lévy's construction), so any block's level costs `DEPTH` draws, not a walk
  from the epoch;
- inside a block, a Brownian bridge built from the block's own draws joins the two levels;
  scaling the bridge by 3 in "stormy" episodes (about an hour long, one in four) gives
  volatility regimes without breaking continuity.
A bar opens at the path's value at its start and closes at its value at its end; wicks extend
beyond both. Trading is most active in a U-shaped US session (13:30-20:00 UTC, DST ignored) and
thin outside it: each symbol trades at its own rate, and a bar exists only if at least one trade
fell in it, so 1-second bars are sparse and bars of a minute or longer nearly always present.
"""

import hashlib
from collections.abc import Sequence

import numba
import numpy as np

from sqfast.types import NS_PER_SECOND, BarBatch

BLOCK = 32
DEPTH = 36
ANCHOR_S = 1_704_067_200  # 2024-01-01T00:00Z: prices are near each symbol's base price here
YEAR_S = 365 * 86_400
SESSION_S = (13.5 * 3_600, 20.0 * 3_600)
OFF_SESSION = 0.25
STORMY_SHARE, STORMY_SCALE, EPISODE_S = 0.25, 3.0, 3_600

_MASK = (1 << 64) - 1
_C1, _C2, _GOLDEN = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0x9E3779B97F4A7C15
_U64 = np.uint64
_STATIC, _TREE, _REGIME, _PATH, _BAR = range(5)


def _mix_int(x: int) -> int:
    """splitmix64's finaliser on a Python int (no numpy scalar overflow warnings)."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * _C1) & _MASK
    x = ((x ^ (x >> 27)) * _C2) & _MASK
    return x ^ (x >> 31)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array, in place (array arithmetic wraps silently)."""
    x ^= x >> _U64(30)
    x *= _U64(_C1)
    x ^= x >> _U64(27)
    x *= _U64(_C2)
    x ^= x >> _U64(31)
    return x


def _uniform(h: np.ndarray) -> np.ndarray:
    """Uniform in (0, 1) from the top 53 bits (through int64: numpy converts that with SIMD)."""
    return ((h >> _U64(11)).view(np.int64).astype(np.float64) + 0.5) * 2.0**-53


def _normals(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent standard normals per hash (Box-Muller on its two 32-bit halves)."""
    u1 = ((h >> _U64(32)).view(np.int64).astype(np.float64) + 0.5) * 2.0**-32
    u2 = (h & _U64(0xFFFFFFFF)).view(np.int64).astype(np.float64) * (2.0 * np.pi * 2.0**-32)
    r = np.sqrt(-2.0 * np.log(u1))
    return r * np.cos(u2), r * np.sin(u2)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _mix_one(x):
    x ^= x >> np.uint64(30)
    x *= np.uint64(_C1)
    x ^= x >> np.uint64(27)
    x *= np.uint64(_C2)
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _quarter(h, i):
    """The `i`-th 16-bit quarter of `h` as a uniform in (0, 1) (via int64: the cheap conversion)."""
    return (np.float64(np.int64((h >> np.uint64(16 * i)) & np.uint64(0xFFFF))) + 0.5) * 2.0**-16


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _fill_block(keys, c_path, c_bar, w0, w1, scale, sigma, log_base, drift, years, rate, lot, trade_seconds,
                price, values, active):
    """One block's bars for every symbol, in passes over (bar, symbol) that read memory in order.

    1. the walk: cumulative Irwin-Hall draws (the sum of a hash's four 16-bit quarters, scaled
       to variance 1: bounded, and cheap; sums of them are normal anyway);
    2. prices at the bar boundaries: the tree's levels joined by the walk turned into a Brownian
       bridge (scaled up in stormy episodes), plus drift;
    3. per bar: open, close, wicks, volume and whether any trade happened, from a second hash.
       With `x` trades expected, a bar exists with probability `1 - 1/(1 + x + x²/2 + x³/6)`,
       close to `1 - exp(-x)` at a fraction of the cost.
    """
    b, n = len(c_path), len(keys)
    root3, low16 = np.sqrt(3.0), np.uint64(0xFFFF)
    for s in range(n):
        price[0, s] = 0.0
    for j in range(b):
        for s in range(n):
            h = _mix_one(c_path[j] ^ keys[s])
            quarters = ((h & low16) + ((h >> np.uint64(16)) & low16) + ((h >> np.uint64(32)) & low16)
                        + (h >> np.uint64(48)))
            z = (np.float64(np.int64(quarters)) * 2.0**-16 - (2.0 - 2.0**-15)) * root3
            price[j + 1, s] = price[j, s] + z
    root_b = np.sqrt(b)
    for j in range(b + 1):
        frac = j / b
        for s in range(n):
            level = root_b * (w0[s] + frac * (w1[s] - w0[s]))
            bridge = price[j, s] - frac * price[b, s]
            price[j, s] = np.exp(log_base[s] + years[j] * drift[s] + sigma[s] * (level + scale[s] * bridge))
    for j in range(b):
        for s in range(n):
            h = _mix_one(c_bar[j] ^ keys[s])
            o, c = price[j, s], price[j + 1, s]
            wick = sigma[s] * scale[s]
            x = rate[s] * trade_seconds[j]
            vol = lot[s] * x * (2.0 if scale[s] > 1.0 else 1.0) * (0.5 + _quarter(h, 2))
            values[j, 0, s] = o
            values[j, 1, s] = max(o, c) * (1.0 + wick * _quarter(h, 0))
            values[j, 2, s] = min(o, c) / (1.0 + wick * _quarter(h, 1))
            values[j, 3, s] = c
            values[j, 4, s] = max(1.0, np.round(vol))
            grown = x * (1.0 + x * (0.5 + x / 6.0))
            active[j, s] = _quarter(h, 3) * (1.0 + grown) < grown


def symbol_keys(symbols: Sequence[str], seed: int) -> np.ndarray:
    """A uint64 key per symbol from its name and the seed: a symbol's bars do not depend on its
    row in the universe or on which other symbols are in it."""
    names = np.array([int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")
                      for s in symbols], dtype=np.uint64).reshape(-1)
    return _mix(names ^ _U64(_mix_int(seed ^ 0x5EED)))


def _profile(second_of_day: np.ndarray) -> np.ndarray:
    """Relative trading activity: U-shaped in the session (1 mid-session, 3 at open and close)."""
    mid, half = (SESSION_S[0] + SESSION_S[1]) / 2, (SESSION_S[1] - SESSION_S[0]) / 2
    x = (second_of_day - mid) / half
    return np.where(np.abs(x) <= 1.0, 1.0 + 2.0 * x * x, OFF_SESSION)


class DemoBars:
    """Bars of `symbols` at `granularity_seconds` for `seed`, generated a block at a time.

    `interval(i)` and `bars(i0, i1)` take bar indices (bar start / granularity); results are the
    same whichever order and however often they are asked for.
    """

    def __init__(self, symbols: Sequence[str], granularity_seconds: int, seed: int = 0):
        if granularity_seconds <= 0:
            raise ValueError(f"granularity must be positive, got {granularity_seconds}")
        self.n = len(symbols)
        self.g = int(granularity_seconds)
        self._base = _mix_int(seed ^ 0xD3E0)
        self._keys = symbol_keys(symbols, seed)
        self._episode = max(1, EPISODE_S // (BLOCK * self.g))
        self._sigma = self._static_params()
        self._stack: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        self._blocks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._anchor = self._level(ANCHOR_S // self.g // BLOCK)

    def _counters(self, stream: int, counters, granular: bool = True) -> np.ndarray:
        """One uint64 per counter of `stream`; a symbol's draw is `_mix(counter ^ its key)`."""
        key = _mix_int(self._base ^ _mix_int((self.g if granular else 0) * 64 + stream))
        return _mix(np.asarray(counters, dtype=np.uint64).reshape(-1) * _U64(_GOLDEN) ^ _U64(key))

    def _hash(self, stream: int, counters, granular: bool = True) -> np.ndarray:
        """(len(counters), n) uint64 hashes for one stream."""
        return _mix(self._counters(stream, counters, granular)[:, None] ^ self._keys[None, :])

    def _static_params(self) -> np.ndarray:
        """Per-symbol character, the same at every granularity: price, volatility, drift, rates."""
        h = self._hash(_STATIC, np.arange(3), granular=False)
        z0, z1 = _normals(h[0])
        z2, _ = _normals(h[1])
        u0, u1 = _uniform(h[2]), _uniform(_mix(h[2].copy()))
        self.log_base = np.log(5.0) + u0 * np.log(100.0)
        sigma_year = np.clip(0.35 * np.exp(0.4 * z0), 0.1, 1.5)
        self.drift_year = 0.1 * z1
        self.rate = np.clip(np.exp(0.8 * z2), 0.3, 30.0)  # trades per second mid-session
        self.lot = np.exp(np.log(20.0) + u1 * np.log(25.0))
        return sigma_year * np.sqrt(self.g / YEAR_S)  # per bar

    def _level(self, k: int) -> np.ndarray:
        """The tree's value at block boundary `k`, in units of one block's standard deviation.

        The descent from the root is kept, so the next boundary redraws only the levels below
        where its path parts from this one: about two per block.
        """
        if not 0 <= k < 1 << DEPTH:
            raise ValueError(f"demo bars exist from 1970 on; block {k} is out of range")
        stack = self._stack
        if not stack:
            top = 1 << DEPTH
            stack.append((0, top, np.zeros(self.n), np.sqrt(float(top)) * self._draw(_TREE, top)))
        depth = 0
        while depth + 1 < len(stack) and stack[depth + 1][0] <= k < stack[depth + 1][1]:
            depth += 1
        del stack[depth + 1:]
        lo, hi, w_lo, w_hi = stack[-1]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            w_mid = 0.5 * (w_lo + w_hi) + np.sqrt((hi - lo) / 4.0) * self._draw(_TREE, mid)
            lo, hi, w_lo, w_hi = (lo, mid, w_lo, w_mid) if k < mid else (mid, hi, w_mid, w_hi)
            stack.append((lo, hi, w_lo, w_hi))
        return w_lo

    def _draw(self, stream: int, counter: int) -> np.ndarray:
        """One normal per symbol."""
        return _normals(self._hash(stream, [counter])[0])[0]

    def _block(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Bars `k*BLOCK ... k*BLOCK+BLOCK-1`: whether each exists, (BLOCK, n), and their
        open, high, low, close and volume, (BLOCK, 5, n)."""
        cached = self._blocks.get(k)
        if cached is not None:
            return cached
        if len(self._blocks) > 1:  # keep one block besides the new one (dropped first: less peak memory)
            self._blocks.pop(next(iter(self._blocks)))
        index = k * BLOCK + np.arange(BLOCK)
        stormy = _uniform(self._hash(_REGIME, [k // self._episode])[0]) < STORMY_SHARE
        w0, w1 = self._level(k), self._level(k + 1)
        years = ((k * BLOCK + np.arange(BLOCK + 1)) * self.g - ANCHOR_S) / YEAR_S
        offsets = (np.arange(8) + 0.5) / 8 * self.g
        activity = _profile((index[:, None] * self.g + offsets[None, :]) % 86_400).mean(axis=1)
        price = np.empty((BLOCK + 1, self.n))
        values = np.empty((BLOCK, 5, self.n))
        active = np.empty((BLOCK, self.n), np.bool_)
        _fill_block(self._keys, self._counters(_PATH, index), self._counters(_BAR, index), w0 - self._anchor,
                    w1 - self._anchor, np.where(stormy, STORMY_SCALE, 1.0), self._sigma, self.log_base,
                    self.drift_year, years, self.rate, self.lot, self.g * activity, price, values, active)
        block = (active, values)
        self._blocks[k] = block
        return block

    def interval(self, i: int) -> BarBatch:
        """The bars starting at `i * granularity`, sorted by symbol row."""
        active, values = self._block(i // BLOCK)
        j = i % BLOCK
        rows = np.flatnonzero(active[j])
        ohlcv = np.take(values[j], rows, axis=1)
        return BarBatch(np.full(len(rows), i * self.g * NS_PER_SECOND, dtype=np.int64), rows, *ohlcv)

    def bars(self, first: int, stop: int) -> BarBatch:
        """The bars with indices in `[first, stop)`, sorted by (ts, sym)."""
        parts = []
        for k in range(first // BLOCK, -(-stop // BLOCK)):
            active, values = self._block(k)
            lo, hi = max(first - k * BLOCK, 0), min(stop - k * BLOCK, BLOCK)
            j, rows = np.nonzero(active[lo:hi])
            j += lo
            ohlcv = values[j, :, rows].T
            parts.append(BarBatch((k * BLOCK + j) * (self.g * NS_PER_SECOND), rows, *ohlcv))
        return BarBatch.concat(parts)

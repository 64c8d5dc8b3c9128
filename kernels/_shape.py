"""Input and output handling shared by every `<ind>_batch` function (plain Python)."""

from collections.abc import Callable, Sequence

import numpy as np


def as_columns(*arrays) -> tuple[list[np.ndarray], tuple[int, ...]]:
    """Return C-contiguous float64 `(T, N)` versions of the inputs and their common shape.

    A 1-D input of length T is one symbol: it becomes a `(T, 1)` view. All inputs must have the
    same shape, time first.
    """
    cols = []
    shape = None
    for a in arrays:
        arr = np.asarray(a, dtype=np.float64)
        if arr.ndim not in (1, 2):
            raise ValueError(f"kernel inputs must be 1-D (T,) or 2-D (T, N); got shape {arr.shape}")
        if shape is None:
            shape = arr.shape
        elif arr.shape != shape:
            raise ValueError(f"kernel inputs must share one shape; got {shape} and {arr.shape}")
        cols.append(np.ascontiguousarray(arr if arr.ndim == 2 else arr[:, None]))
    return cols, shape


def output_columns(out, shape: tuple[int, ...], dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Return `(result, columns)`: the array handed back to the caller and its `(T, N)` view.

    `out`, when given, must be C-contiguous with the input's shape and dtype; it is filled in place.
    """
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {np.dtype(dtype)} array of shape {shape}")
    return out, (out if out.ndim == 2 else out[:, None])


def run_rows(
    rows: Callable,
    state,
    inputs: Sequence,
    out=None,
    n_outputs: int = 1,
    dtype=np.float64,
):
    """Run a kernel's compiled row loop over whole inputs; return one array or a tuple.

    `rows(state, *input_columns, *output_columns)` advances every symbol one bar per row.
    For several outputs, `out` is a tuple of arrays shaped like the inputs.
    """
    cols, shape = as_columns(*inputs)
    outs = (out,) if n_outputs == 1 else (out or (None,) * n_outputs)
    if len(outs) != n_outputs:
        raise ValueError(f"out must be a tuple of {n_outputs} arrays")
    results, out_cols = zip(*(output_columns(o, shape, dtype) for o in outs), strict=True)
    rows(state(cols[0].shape[1]), *cols, *out_cols)
    return results[0] if n_outputs == 1 else tuple(results)

"""The one decorator every kernel uses.

`cache=True` so a second process loads machine code instead of compiling; `nogil=True` so the
engine thread never holds the GIL inside a kernel; `error_model="numpy"` so a division by zero
gives inf/NaN as numpy would instead of raising. Never `fastmath`: it makes `isnan(nan)` false.
"""

import numba

kernel = numba.njit(cache=True, nogil=True, error_model="numpy")

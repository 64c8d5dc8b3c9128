"""sqfast.kernels — incremental Numba indicator kernels for many symbols at once.

Every indicator has `<ind>_init`, `<ind>_update`, `<ind>_step` and `<ind>_batch` (see the
README and `ma.py` for the conventions). `catalog.all_specs()` describes every kernel.
This package imports only numpy, numba, math and the standard library.
"""

from .cross import *
from .extrema import *
from .ma import *
from .momentum import *
from .ring import RingState, ring_init, ring_step, ring_update, ring_window
from .volatility import *
from .volume import *

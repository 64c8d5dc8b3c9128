"""sqfast.kernels — incremental Numba indicator kernels (filled in as families land)."""
from .ma import *  # noqa: F401,F403

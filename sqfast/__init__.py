"""sqfast: backtesting.py strategies, translated once into Numba-compiled steps, run live."""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .replayer import replay as replay
    from .strategy import Strategy as Strategy


def __getattr__(name: str):
    """`sqfast.replay` and `sqfast.Strategy` are imported on first use, so `import sqfast` and
    `import sqfast.kernels` stay light."""
    if name == "replay":
        from .replayer import replay as replay

        return replay
    if name == "Strategy":
        from .strategy import Strategy as Strategy

        return Strategy
    raise AttributeError(f"module 'sqfast' has no attribute {name!r}")

"""sqfast: backtesting.py strategies, translated once into Numba-compiled steps, run live."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`sqfast.replay` is imported on first use, so `import sqfast.kernels` stays light."""
    if name == "replay":
        from .replayer import replay

        return replay
    raise AttributeError(f"module 'sqfast' has no attribute {name!r}")

"""sqfast: backtesting.py strategies, translated once into Numba-compiled steps, run live."""

__version__ = "0.1.0"

"""Strategy translation: load a backtesting.py strategy file, record its `init()`, map its
indicators to kernels, and check its `next()` against the compiled subset."""

"""A paper run on the demo feed makes the trades `sqfast replay` makes on the same bars.

The run (`sqfast.live.run`, at `--speed max`) warms each strategy up on its own lookback of
history, then trades from its first live bar; replay over the same bars (from that warm-up's
first bar, each symbol a sub-account with the strategy's share of the capital) first decides on
that same bar. Both use backtesting.py's rules, whose parity with backtesting.py itself is tested
in tests/test_replay_parity.py. Covered: a compiled step, limit entries, a window node
recomputed on each symbol's history, and the Python fallback.
"""

import asyncio
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from adapters.demo import DemoFeed
from sqfast.bars_io import SymbolBars
from sqfast.config import build_config
from sqfast.journal_read import open_reader
from sqfast.live import DEFAULT_MAX_START, run
from sqfast.replayer import replay

ROOT = Path(__file__).resolve().parents[2]
SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]
STRATEGIES = {"sma_cross": 0.3, "rsi_reversion": 0.3, "custom_indicator": 0.2, "python_fallback": 0.2}
CAPITAL = 120_000
NS = 1_000_000_000


def portfolio(tmp_path: Path, mode: str = "paper") -> Path:
    tables = "\n".join(f'[[strategy]]\nfile = "{ROOT / "strategies" / name}.py"\nallocation = {share}\n'
                       for name, share in STRATEGIES.items())
    text = textwrap.dedent(f"""\
        data_source = "demo"
        granularity = "1m"
        mode = "{mode}"
        capital = {CAPITAL}
        duration = "12h"
        speed = "max"
        run_dir = "run"
        symbols = {SYMBOLS!r}

        [source.demo]
        seed = 11
        """).replace("'", '"') + tables
    path = tmp_path / "portfolio.toml"
    path.write_text(text)
    return path


def bars_from(start_ns: int, end_ns: int) -> list[SymbolBars]:
    feed = DemoFeed(11, "max", start_ns=end_ns)
    batch = asyncio.run(feed.history(SYMBOLS, 60, start_ns, end_ns))
    out = []
    for row, symbol in enumerate(SYMBOLS):
        mine = batch.take(np.flatnonzero(batch.sym == row))
        columns = {"Open": mine.open, "High": mine.high, "Low": mine.low, "Close": mine.close,
                   "Volume": mine.volume}
        out.append(SymbolBars(symbol, columns, mine.ts.astype("datetime64[ns]")))
    return out


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("paper")
    config = build_config(portfolio(tmp_path), cwd=tmp_path)
    assert run(config) == 0
    with open_reader(config.run_dir) as journal:
        return config, journal.trades(), journal.orders()


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_paper_trades_equal_replay(paper_run, name):
    config, trades, _ = paper_run
    strategy = next(s for s in config.strategies if s.file.stem == name)
    from sqfast.compile.analysis import analyse

    lookback = analyse(strategy.file).bars_needed
    start = int(DEFAULT_MAX_START.timestamp()) * NS
    end = start + config.duration_seconds * NS
    expected = replay(strategy.file, bars_from(start - lookback * 60 * NS, end),
                      cash=CAPITAL * strategy.allocation / len(SYMBOLS)).trades
    epochs = expected.with_columns(pl.col("entry_time", "exit_time").dt.epoch("ns"))
    want = sorted((r["symbol"], int(r["size"]), r["entry_time"], r["exit_time"], round(r["entry_price"], 9),
                   round(r["exit_price"], 9)) for r in epochs.iter_rows(named=True))
    got = sorted((t.symbol, int(t.size), t.entry_bar_ts_ns, t.exit_bar_ts_ns, round(t.entry_price, 9),
                  round(t.exit_price, 9)) for t in trades if t.strategy == strategy.id)
    assert got == want
    assert len(want) >= 2, "too few trades to prove anything"


def test_every_order_is_journaled_once_with_a_deterministic_id(paper_run):
    _, _, orders = paper_run
    ids = [o.client_order_id for o in orders]
    assert len(ids) == len(set(ids)) and all(i.startswith("sq-") for i in ids)
    assert {o.state for o in orders} <= {"submitted", "filled", "canceled"}


def test_signals_mode_places_nothing(tmp_path):
    config = build_config(portfolio(tmp_path, "signals"), cwd=tmp_path)
    assert run(config) == 0
    with open_reader(config.run_dir) as journal:
        assert journal.signals() and not journal.orders() and not journal.trades()
        assert all(p.size == 0 for p in journal.positions())

"""`sqfast status`, `halt`, `resume` and `granularities` as a user runs them, after real runs.

`status --json` is checked against the journal read directly with SQL (not through
`sqfast.journal_read`, which `status` itself uses). The kill switch is set on a copy of a
finished run, which is then resumed for longer: every new entry is blocked and journaled with
the kill switch's reason.
"""

import json
import shutil

import pytest

from tests.e2e.helpers import (
    NS,
    SHIPPED_IDS,
    UNIVERSE,
    one_error_line,
    query,
    shipped_portfolio,
    sqfast,
)

START_NS = 1_704_205_800 * NS  # the default --speed max start, 2024-01-02 14:30 UTC
FIRST_END_NS = START_NS + 2 * 3600 * NS


def run(cwd, portfolio, run_dir, duration: str):
    result = sqfast("run", portfolio, "--symbols-file", UNIVERSE, "--speed", "max", "--duration", duration,
                    "--run-dir", run_dir, "-q", cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The shipped portfolio over the shipped universe, 1-minute bars, two simulated hours."""
    cwd = tmp_path_factory.mktemp("status")
    portfolio = shipped_portfolio(cwd / "portfolio.toml")
    run(cwd, portfolio, cwd / "run", "2h")
    return cwd, portfolio, cwd / "run"


def status_json(run_dir, cwd) -> dict:
    result = sqfast("status", run_dir, "--json", cwd=cwd, timeout=60)
    assert result.returncode == 0 and not result.stderr, result.stderr
    return json.loads(result.stdout)


def max_drawdown_pct(curve: list[float]) -> float:
    peak, worst = curve[0], 0.0
    for value in curve:
        peak = max(peak, value)
        worst = max(worst, 1 - value / peak)
    return 100 * worst


def test_status_json_agrees_with_the_journal(finished):
    cwd, _, run_dir = finished
    data = status_json(run_dir, cwd)
    (run_id, status), = query(run_dir, "SELECT run_id, status FROM runs")
    assert (data["run_id"], data["state"], data["mode"]) == (run_id, "stopped", "paper")
    assert status == "stopped"
    assert data["kill_switch"]["halted"] is False
    by_id = {s["strategy"]: s for s in data["strategies"]}
    assert list(by_id) == list(SHIPPED_IDS)
    registered = query(run_dir, "SELECT strategy, allocation, capital FROM strategies")
    for strategy, allocation, capital in registered:
        shown = by_id[strategy]
        assert (shown["allocation"], shown["capital"]) == (allocation, capital)
        curve = query(run_dir, "SELECT equity, cash FROM equity WHERE strategy = ? ORDER BY ts_ns",
                      (strategy,))
        equity, cash = curve[-1]
        assert (shown["equity"], shown["cash"]) == (equity, cash)
        assert shown["pnl"] == pytest.approx(equity - capital, abs=1e-9)
        assert shown["pnl_pct"] == pytest.approx(100 * (equity - capital) / capital, abs=1e-9)
        assert shown["max_drawdown_pct"] == pytest.approx(max_drawdown_pct([capital] + [e for e, _ in curve]))
        pnls = [p for (p,) in query(run_dir, "SELECT pnl FROM trades WHERE strategy = ?", (strategy,))]
        assert shown["trades"] == len(pnls)
        if pnls:
            assert shown["win_rate_pct"] == pytest.approx(100 * sum(p > 0 for p in pnls) / len(pnls))
        else:
            assert shown["win_rate_pct"] is None
        held = query(run_dir, "SELECT symbol, size, avg_entry_price FROM positions WHERE strategy = ? AND "
                              "size != 0 ORDER BY symbol", (strategy,))
        assert [(p["symbol"], p["size"], p["avg_price"]) for p in shown["positions"]] == held
        orders = dict(query(run_dir, "SELECT state, count(*) FROM orders WHERE strategy = ? GROUP BY state",
                            (strategy,)))
        assert shown["orders"] == orders
        (signals,), = query(run_dir, "SELECT count(*) FROM signals WHERE strategy = ?", (strategy,))
        assert shown["signals"] == signals
        (progress,), = query(run_dir, "SELECT ts_ns FROM progress WHERE strategy = ?", (strategy,))
        assert shown["last_interval_ns"] == progress == FIRST_END_NS - 60 * NS
    assert sum(s["trades"] for s in by_id.values()) > 0 and any(s["positions"] for s in by_id.values())
    (feed,) = data["feeds"]
    (source, received, accepted, duplicate, late, out_of_order, invalid, last_bar), = query(
        run_dir, "SELECT source, received, accepted, duplicate, late, out_of_order, invalid, last_bar_ts_ns "
                 "FROM feed_state")
    assert (feed["source"], feed["received"], feed["accepted"], feed["duplicate"], feed["late"],
            feed["out_of_order"], feed["invalid"], feed["last_bar_ts_ns"]) == (
        source, received, accepted, duplicate, late, out_of_order, invalid, last_bar)
    assert feed["dropped"] == duplicate + late + out_of_order + invalid
    assert source == "demo" and accepted > 5000 and last_bar == FIRST_END_NS - 60 * NS


def test_plain_status_prints_a_table(finished):
    cwd, _, run_dir = finished
    result = sqfast("status", run_dir, cwd=cwd, timeout=60)
    assert result.returncode == 0 and not result.stderr, result.stderr
    lines = result.stdout.splitlines()
    (run_id,), = query(run_dir, "SELECT run_id FROM runs")
    assert lines[0].startswith(f"run {run_id}  stopped  mode paper")
    assert "kill switch: off" in lines
    at = next(k for k, line in enumerate(lines) if line.startswith("strategy "))
    table = lines[at: lines.index("", at)]
    header = table[0]
    assert header.split() == ["strategy", "alloc%", "equity", "P&L", "P&L%", "pos", "orders", "open",
                              "blocked", "trades", "win%", "maxDD%"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert list(rows) == list(SHIPPED_IDS)
    trades = dict(query(run_dir, "SELECT strategy, count(*) FROM trades GROUP BY strategy"))
    for strategy, allocation in query(run_dir, "SELECT strategy, allocation FROM strategies"):
        assert rows[strategy][1] == f"{100 * allocation:.1f}"
        assert rows[strategy][9] == str(trades.get(strategy, 0))
    assert any(line.split()[:1] == ["demo"] for line in lines)


@pytest.fixture(scope="module")
def halted(finished):
    """A copy of the finished run, halted, then resumed for two more simulated hours."""
    cwd, portfolio, run_dir = finished
    copy = cwd / "halted"
    shutil.copytree(run_dir, copy)
    halt = sqfast("halt", copy, "--reason", "e2e: risk review", cwd=cwd, timeout=60)
    assert halt.returncode == 0, halt.stderr
    after_halt = status_json(copy, cwd)
    plain = sqfast("status", copy, cwd=cwd, timeout=60).stdout
    resumed = run(cwd, portfolio, copy, "4h")
    after_run = status_json(copy, cwd)
    return cwd, copy, halt, after_halt, plain, resumed, after_run


def test_halt_shows_in_status(halted):
    _, copy, halt, after_halt, plain, _, after_run = halted
    assert f"{copy}: halted (e2e: risk review)" in halt.stdout
    for data in (after_halt, after_run):
        kill = data["kill_switch"]
        assert (kill["halted"], kill["by"], kill["reason"]) == (True, "sqfast halt", "e2e: risk review")
    line = next(line for line in plain.splitlines() if line.startswith("kill switch:"))
    assert line.startswith("kill switch: HALTED by sqfast halt at ") and line.endswith(": e2e: risk review")


def test_a_halted_run_blocks_its_new_orders_with_the_reason(halted):
    _, copy, *_ = halted
    assert query(copy, "SELECT max(ts_ns) FROM progress") == [(FIRST_END_NS + 2 * 3600 * NS - 60 * NS,)]
    after = query(copy, "SELECT state, reason FROM orders WHERE bar_ts_ns >= ?", (FIRST_END_NS,))
    blocked = [reason for state, reason in after if state == "blocked"]
    assert len(blocked) > 50
    assert all(reason.startswith("kill switch: trading halted") for reason in blocked), set(blocked)
    before = query(copy, "SELECT count(*) FROM orders WHERE bar_ts_ns < ? AND state = 'blocked'",
                   (FIRST_END_NS,))
    assert before == [(0,)]


def test_a_halted_run_opens_no_new_position(halted):
    _, copy, *_ = halted
    entries = query(copy, "SELECT o.strategy, o.symbol, o.bar_ts_ns, o.side, o.size, f.qty FROM orders o "
                          "JOIN fills f USING (client_order_id) WHERE o.bar_ts_ns >= ? AND "
                          "f.execution_id LIKE '%:in:%'", (FIRST_END_NS,))
    assert entries == []


def test_resume_clears_the_kill_switch(halted):
    cwd, copy, *_ = halted
    result = sqfast("resume", copy, cwd=cwd, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"{copy}: resumed", result.stderr
    kill = status_json(copy, cwd)["kill_switch"]
    assert (kill["halted"], kill["by"], kill["reason"]) == (False, "sqfast resume", None)
    assert "kill switch: off" in sqfast("status", copy, cwd=cwd, timeout=60).stdout.splitlines()


@pytest.fixture(scope="module")
def tight(finished):
    """The shipped portfolio with a daily loss limit of 20: new entries halt within the run."""
    cwd, _, _ = finished
    portfolio = shipped_portfolio(cwd / "tight.toml", **{"daily_loss_limit = 5_000": "daily_loss_limit = 20"})
    run(cwd, portfolio, cwd / "tight", "2h")
    return cwd, cwd / "tight"


def test_the_daily_loss_limit_blocks_new_entries(tight):
    _, run_dir = tight
    reasons = query(run_dir, "SELECT DISTINCT reason FROM orders WHERE state = 'blocked'")
    assert reasons == [("daily loss limit 20.00 reached: new entries halted for the day",)]
    (limits,), = query(run_dir, "SELECT value FROM risk_state WHERE key = 'limits'")
    state = json.loads(limits)
    assert state["entries_halted_day"] == state["day"]


def test_status_shows_the_daily_loss_halt(tight):
    cwd, run_dir = tight
    assert status_json(run_dir, cwd)["halted_entries"]


@pytest.mark.parametrize("command", ["status", "halt", "resume"])
def test_a_run_directory_command_on_no_run_is_one_line(tmp_path, command):
    (tmp_path / "empty").mkdir()
    for target, fragment in ((tmp_path / "missing", "does not exist"),
                             (tmp_path / "empty", "is not a sqfast run directory")):
        result = sqfast(command, target, cwd=tmp_path, timeout=60)
        assert result.returncode == 2
        line = one_error_line(result.stderr)
        assert str(target) in line and fragment in line, line
    assert not (tmp_path / "missing").exists() and list((tmp_path / "empty").iterdir()) == []


def test_granularities_lists_all_sixteen_with_their_sources(tmp_path):
    result = sqfast("granularities", cwd=tmp_path, timeout=60)
    assert result.returncode == 0 and not result.stderr
    listed = {line.split()[0]: line.split(None, 1)[1].split(", ") for line in result.stdout.splitlines()}
    names = ["1s", "5s", "10s", "15s", "30s", "1m", "2m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h",
             "1d"]
    assert list(listed) == names
    for name in names:
        seconds = int(name[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[name[-1]]
        expected = ["demo", "polygon"] + (["alpaca"] if seconds >= 60 else []) + \
            (["coinmarketcap"] if seconds >= 3600 else [])
        assert listed[name] == expected, name

"""Benchmark harness: collects medians and prints sqfast's summary table with targets.

Absolute times on shared machines are noisy, so every target is checked as a ratio against a
baseline measured in the same run. `SQFAST_BENCH_QUICK=1` runs fewer rounds (CI).
"""

import json
import os
from pathlib import Path

import pytest

QUICK = os.environ.get("SQFAST_BENCH_QUICK") == "1"
RESULTS: dict[str, float] = {}
SUMMARY_FILE = Path(os.environ.get("SQFAST_BENCH_SUMMARY", ".benchmarks/summary.json"))


def rounds(full: int) -> int:
    """Rounds for a slow benchmark: fewer in quick mode."""
    return max(2, full // 4) if QUICK else full


@pytest.fixture
def record(benchmark):
    """Run `benchmark.pedantic` and keep the median (seconds) under `key` for the summary."""

    def run(key: str, func, *args, rounds_: int = 5, iterations: int = 1, warmup_rounds: int = 1):
        result = benchmark.pedantic(func, args=args, rounds=rounds(rounds_), iterations=iterations,
                                    warmup_rounds=warmup_rounds)
        RESULTS[key] = benchmark.stats.stats.median
        return result

    return run


def _us(key: str) -> str:
    return f"{RESULTS[key] * 1e6:,.1f} us" if key in RESULTS else "-"


def _ms(key: str) -> str:
    return f"{RESULTS[key] * 1e3:,.1f} ms" if key in RESULTS else "-"


def _ratio(num: str, den: str) -> float | None:
    if num in RESULTS and den in RESULTS and RESULTS[den] > 0:
        return RESULTS[num] / RESULTS[den]
    return None


def summary_rows() -> list[tuple[str, str, str, str]]:
    """(measure, figure, target, met?) rows from whatever ran."""
    rows = []

    def add(measure, figure, target, ok):
        rows.append((measure, figure, target, "-" if ok is None else ("yes" if ok else "NO")))

    w2 = RESULTS.get("w2_stream_public_10000")
    ratio = _ratio("w2_stream_public_10000", "w2_stream_fused_10000")
    add("W2 per bar, 10k symbols, public kernel API", _us("w2_stream_public_10000"), "< 50 us",
        None if w2 is None else w2 < 50e-6)
    add("  same, hand-written fused reference", _us("w2_stream_fused_10000"), "baseline", None)
    add("  public API / fused", f"{ratio:.2f}x" if ratio else "-", "<= 2x",
        None if ratio is None else ratio <= 2)
    for other in ("talib", "pandas", "polars"):
        r = _ratio(f"w2_batch_{other}", "w2_batch_sqfast")
        target = {"talib": "> 1x", "polars": ">= 5x", "pandas": "report"}[other]
        ok = None if r is None else {"talib": r > 1, "polars": r >= 5, "pandas": None}[other]
        add(f"W2 batch 10,000 x 1,000: {other} / sqfast", f"{r:.1f}x" if r else "-", target, ok)
    add("W2 batch 10,000 x 1,000, sqfast", _ms("w2_batch_sqfast"), "baseline", None)
    step = _ratio("sma_cross_step_compiled_10000", "sma_cross_step_fused_10000")
    add("SMA-cross compiled step, 10k symbols per bar", _us("sma_cross_step_compiled_10000"), "report",
        None)
    add("  hand-written fused step", _us("sma_cross_step_fused_10000"), "baseline", None)
    add("  compiled / fused, medians", f"{step:.2f}x" if step else "-", "report", None)
    best = RESULTS.get("sma_cross_step_ratio_interleaved")
    figures = (f"{best:.2f}x ({_us('sma_cross_step_best_compiled')} / {_us('sma_cross_step_best_fused')})"
               if best else "-")
    add("  compiled / fused, interleaved, best rounds", figures, "<= 1.5x",
        None if best is None else best <= 1.5)
    ours = next((k for k in RESULTS if k.startswith("replay_sqfast_")), None)
    theirs = next((k for k in RESULTS if k.startswith("replay_backtesting_scaled_")), None)
    speedup = _ratio(theirs, ours) if ours and theirs else None
    add(f"replay SMA cross, {ours.removeprefix('replay_sqfast_') if ours else '-'} bars", _ms(ours or ""),
        "", None)
    add("  backtesting.py per symbol, scaled", _ms(theirs or ""), "", None)
    shown = "-" if not speedup else (f"{speedup:.1f}x" if speedup < 10 else f"{speedup:,.0f}x")
    add("  speed-up", shown, ">= 1000x",
        None if speedup is None else speedup >= 1000)
    for key, label, target in (("translate_cold", "translation, cold cache", "report"),
                               ("translate_warm", "translation, from the compile cache", "< 0.5 s")):
        if key in RESULTS:
            ok = RESULTS[key] < 0.5 if target != "report" else None
            add(label, f"{RESULTS[key]:.2f} s", target, ok)
    starts = (("cold_start_warm_cache", "warm Numba cache"), ("cold_start_cold_cache", "cold cache"))
    for key, label in starts:
        if key in RESULTS:
            target = "< 2 s" if key == "cold_start_warm_cache" else "report"
            ok = RESULTS[key] < 2.0 if key == "cold_start_warm_cache" else None
            add(f"fresh process: import + W2 once, {label}", f"{RESULTS[key]:.2f} s", target, ok)
    rows += _engine_rows()
    return rows


def _engine_rows() -> list[tuple[str, str, str, str]]:
    """The live engine's rows (benchmarks/test_bench_engine.py)."""
    rows = []

    def add(measure, figure, target, ok):
        rows.append((measure, figure, target, "-" if ok is None else ("yes" if ok else "NO")))

    for n in (1_000, 10_000):
        for key, how in ((f"engine_interval_{n}", "no journal"),
                         (f"engine_interval_journal_{n}", "journal, committed")):
            if key not in RESULTS:
                continue
            bars = RESULTS.get(f"{key}_bars", 0)
            add(f"engine per 1s interval, {n:,} symbols (~{bars:,.0f} bars), {how}",
                f"{_ms(key)} (cpu {_ms(f'{key}_cpu')})", "report", None)
            add("  of which the compiled steps (3 strategies)", _ms(f"{key}_step"), "baseline", None)
            over = _ratio(f"{key}_overhead", f"{key}_step")
            add("  engine overhead (total - steps)", _ms(f"{key}_overhead"), "report", None)
            add("  overhead / steps", f"{over:,.0f}x" if over else "-", "report", None)
    ceiling = RESULTS.get("engine_interval_journal_10000")
    if ceiling:
        add("  10,000 symbols: engine-only ceiling, sim s / wall s", f"{1 / ceiling:,.1f}", ">= 200",
            1 / ceiling >= 200)
    speed = RESULTS.get("engine_throughput_10000")
    if speed is not None:
        add("throughput, 10,000 symbols, 1s bars, 3 strategies, --speed max", f"{speed:,.1f} sim s / wall s",
            ">= 200", speed >= 200)
        cpu = RESULTS["engine_throughput_10000_cpu"]
        add("  same, from the runs' CPU time", f"{cpu:,.1f} sim s / cpu s", ">= 200", cpu >= 200)
        short, long = RESULTS["engine_throughput_seconds_short"], RESULTS["engine_throughput_seconds_long"]
        walls = RESULTS["engine_throughput_wall_short"], RESULTS["engine_throughput_wall_long"]
        add(f"  wall time of {short:.0f} s / {long:.0f} s runs, start to exit",
            f"{walls[0]:.1f} s / {walls[1]:.1f} s", "", None)
        rss = RESULTS["engine_throughput_rss_mb"]
        add(f"  peak RSS of the {long:.0f} s run", f"{rss:,.0f} MB", "< 400 MB", rss < 400)
    first = RESULTS.get("engine_first_signal_1000")
    if first is not None:
        best = RESULTS["engine_first_signal_1000_best"]
        add("start to first signal, 1,000 symbols, warm cache, median", f"{first:.2f} s (best {best:.2f} s)",
            "< 3 s", first < 3)
    rss = RESULTS.get("engine_peak_rss_mb_10000")
    if rss is not None:
        seconds = RESULTS["engine_peak_rss_seconds"]
        add(f"peak RSS, 10,000 symbols, {seconds:.0f} s of 1s bars", f"{rss:,.0f} MB", "< 400 MB", rss < 400)
    return rows


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    write = terminalreporter.write_line
    rows = summary_rows()
    widths = [max(len(r[i]) for r in [("measure", "figure", "target", "met"), *rows]) for i in range(4)]
    write("")
    write("sqfast benchmark summary" + (" (quick mode)" if QUICK else ""))
    for row in [("measure", "figure", "target", "met"), *rows]:
        write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    updates = sorted(k for k in RESULTS if k.startswith("update_"))
    if updates:
        write("")
        write("per-kernel _update, all symbols with a bar (sym=None), median per call:")
        for key in updates:
            write(f"  {key.removeprefix('update_'):<24} {RESULTS[key] * 1e6:10.1f} us")
    SUMMARY_FILE.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY_FILE.write_text(json.dumps({"quick": QUICK, "results": RESULTS, "summary": rows}, indent=1))

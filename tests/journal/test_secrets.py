"""Secrets never reach the journal: canary values are masked and absent from every file."""

import copy
import json
from dataclasses import dataclass

from sqfast.journal import Journal, config_changes
from sqfast.run_status import status, status_json
from sqfast.sanitise import MASK, sanitise


class Secret:
    """A credential wrapper whose text is masked, as configuration loaders hold keys."""

    def __init__(self, value: str):
        self._value = value

    def __str__(self) -> str:
        return "**********"

    __repr__ = __str__


@dataclass
class Feed:
    url: str
    token: str


def canary_config() -> dict:
    return {
        "mode": "paper", "broker": "alpaca", "capital": 100_000,
        "alpaca": {"api_key": "CANARY-AK-7f3a", "SECRET_KEY": "CANARY-SK-91bd", "paper": True},
        "polygon": {"url": "wss://127.0.0.1:9/stocks?apiKey=CANARY-URL-55&cluster=stocks"},
        "API_TOKEN": "CANARY-TOK-2",
        "database": {"Password": "CANARY-PW-3", "path": "runs/x"},
        "notify": [{"bot_token": "CANARY-LIST-4", "chat": 12}],
        "credentials": {"nested": {"anything": "CANARY-NEST-5"}},
        "auth": Secret("CANARY-OBJ-6"),
        "feed": Feed("https://127.0.0.1/bars?token=CANARY-DC-7", "CANARY-DC-8"),
        "strategy": [{"id": "a", "file": "strategies/a.py", "allocation": 0.5, "params": {"n": 3}}],
    }


def test_sanitise_masks_every_canary_and_keeps_the_rest():
    config = canary_config()
    before = copy.deepcopy(config)
    clean = sanitise(config)
    text = json.dumps(clean)
    assert "CANARY" not in text
    assert config["alpaca"] == before["alpaca"] and config["notify"] == before["notify"]  # not mutated
    assert clean["alpaca"] == {"api_key": MASK, "SECRET_KEY": MASK, "paper": True}
    assert clean["polygon"]["url"] == f"wss://127.0.0.1:9/stocks?apiKey={MASK}&cluster=stocks"
    assert clean["database"] == {"Password": MASK, "path": "runs/x"}
    assert clean["notify"] == [{"bot_token": MASK, "chat": 12}]
    assert clean["credentials"] == MASK
    assert clean["feed"] == {"url": f"https://127.0.0.1/bars?token={MASK}", "token": MASK}
    assert (clean["mode"], clean["capital"], clean["strategy"]) == ("paper", 100_000, config["strategy"])
    assert sanitise(clean) == clean


def test_canaries_never_reach_the_journal_or_its_exports(run_dir):
    config = canary_config()
    journal = Journal.open(run_dir, create=True, config=config)
    with journal.interval() as tx:
        tx.strategy("a", 0.5, 50_000.0)
        tx.signal("a", "AAPL", 1, "buy", 1.0, indicators={"sma": 1.0})
        tx.equity("a", 1, 50_000.0, 50_000.0)
        tx.trade("a", "AAPL", 1, 1, 2, 1.0, 2.0, 1.0)
    files_while_running = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    assert "journal.sqlite-wal" in files_while_running
    journal.export()
    journal.close()
    assert "CANARY" not in json.dumps(status_json(status(run_dir)))
    files = {**files_while_running, **{p.name: p.read_bytes() for p in run_dir.iterdir()}}
    assert {"journal.sqlite", "trades.parquet", "equity.parquet"} <= set(files)
    for name, data in files.items():
        assert b"CANARY" not in data, name


def test_a_rotated_secret_is_not_a_configuration_change():
    rotated = canary_config()
    rotated["alpaca"]["api_key"] = "CANARY-NEW-KEY"
    assert config_changes(canary_config(), rotated) == []

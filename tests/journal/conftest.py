"""Fixtures for the journal tests: a fresh run directory and an open engine journal on it."""

import pytest

from sqfast.journal import Journal

CONFIG = {"capital": 1_000, "mode": "paper", "granularity": "1m",
          "strategy": [{"id": "a", "file": "strategies/a.py", "allocation": 0.6, "params": {"n": 10}},
                       {"id": "b", "file": "strategies/b.py", "allocation": 0.3}]}


@pytest.fixture
def run_dir(tmp_path):
    return tmp_path / "run"


@pytest.fixture
def journal(run_dir):
    j = Journal.open(run_dir, create=True, config=CONFIG)
    yield j
    j.close()

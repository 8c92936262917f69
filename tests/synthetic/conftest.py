"""Fixtures of the synthetic dataset tests: the smoke preset generated once, its plan and its traps."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ilsvrc_pipe import synthetic

PRESET, SEED = "smoke", 0


@pytest.fixture(scope="session")
def root(tmp_path_factory) -> Path:
    return synthetic.generate_mini_ilsvrc(tmp_path_factory.mktemp("synthetic") / "data", PRESET, SEED)


@pytest.fixture(scope="session")
def plan():
    return synthetic.plan_dataset(PRESET, SEED)


@pytest.fixture(scope="session")
def traps(root) -> dict:
    return json.loads((root / synthetic.TRAPS_FILE).read_text())

"""Shared test fixtures: where ../shared lives, and a generated smoke dataset."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    for cand in (os.environ.get("ILSVRC_SHARED"), REPO_ROOT.parent / "shared", REPO_ROOT / "shared"):
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if path is None:
        pytest.skip("the shared/ folder (set ILSVRC_SHARED) with the scoring fixtures is not beside the repo")
    return path


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory) -> Path:
    """The smoke preset of the embedded dataset, generated once per test session."""
    from ilsvrc_pipe.data.mini import generate_mini_ilsvrc

    return Path(generate_mini_ilsvrc(tmp_path_factory.mktemp("smoke") / "mini", preset="smoke", seed=0))

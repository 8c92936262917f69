"""The OpenMP wait-policy default (``ilsvrc_pipe/utils/openmp_env.py``): set before torch loads libgomp,
inherited by subprocesses, and never over a choice the user made."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ilsvrc_pipe.utils.openmp_env import DEFAULTS, SWITCH, USER_VARIABLES, apply_openmp_defaults

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_sets_the_default_when_the_user_chose_nothing():
    env = {"PATH": "/bin"}
    assert apply_openmp_defaults(env, modules={}) == DEFAULTS
    assert env == {"PATH": "/bin", **DEFAULTS}


@pytest.mark.parametrize("name", USER_VARIABLES)
@pytest.mark.parametrize("value", ["ACTIVE", "PASSIVE", "300000", ""])
def test_never_overrides_the_user(name, value):
    env = {name: value}
    assert apply_openmp_defaults(env, modules={}) == {}
    assert env == {name: value}


@pytest.mark.parametrize("off", ["0", "false", "off", "no"])
def test_can_be_turned_off(off):
    env = {SWITCH: off}
    assert apply_openmp_defaults(env, modules={}) == {} and env == {SWITCH: off}


def test_does_nothing_once_torch_is_loaded():
    """libgomp read its environment when torch was imported: a variable set later would only
    misdescribe this process."""
    env = {}
    assert apply_openmp_defaults(env, modules={"torch": object()}) == {} and env == {}


def _child_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in USER_VARIABLES and k != SWITCH}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra)
    return env


@pytest.mark.parametrize("extra, expected", [
    ({}, DEFAULTS["GOMP_SPINCOUNT"]),
    ({"OMP_WAIT_POLICY": "ACTIVE"}, "None"),
    ({"GOMP_SPINCOUNT": "5"}, "5"),
])
def test_the_tools_bootstrap_sets_it_before_torch(extra, expected):
    """What ``tools/train.py`` does (``import _bootstrap`` then ``import torch``), in a fresh process."""
    code = ("import sys; sys.path.insert(0, 'tools'); import _bootstrap, os; "
            "print('torch' in sys.modules, os.environ.get('GOMP_SPINCOUNT'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=_child_env(**extra),
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", expected]

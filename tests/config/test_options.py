"""Strict ``--cfg-options``: booleans parse strictly, unknown keys are errors naming the
nearest valid ones, sections are not replaced by values, and configs load with one-line errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from ilsvrc_pipe.config.cli import load_config
from ilsvrc_pipe.config.options import parse_bool, parse_cfg_options
from ilsvrc_pipe.utils.errors import UserInputError

SMOKE = Path(__file__).resolve().parents[2] / "configs/mini/smoke.py"
TREE = {"data": {"root": "data/x", "verify_images": True, "skip_corrupt_images": False, "generate": None},
        "eval": {"seed": 0, "baselines": ["full-image", "center"], "lr": 0.1},
        "cls": {"models": [{"name": "a", "seed": 1}], "test": {"dense_scales": [80, 92], "bg_iou": (0.1, 0.5)}}}


@pytest.mark.parametrize("text, value", [("true", True), ("True", True), ("yes", True), ("1", True), ("on", True),
                                         ("false", False), ("FALSE", False), ("no", False), ("0", False), ("off", False)])
def test_booleans(text, value):
    assert parse_bool(text, "x") is value
    assert parse_cfg_options([f"data.skip_corrupt_images={text}"], TREE) == {"data.skip_corrupt_images": value}


@pytest.mark.parametrize("text", ["Flase", "", "2", "none", "t"])
def test_a_bad_boolean_is_an_error(text):
    with pytest.raises(UserInputError, match=rf"data\.verify_images: expected a boolean .*got '{text}'"):
        parse_cfg_options([f"data.verify_images={text}"], TREE)


def test_values_take_the_type_of_the_value_they_replace():
    parsed = parse_cfg_options(["eval.seed=3", "eval.lr=1e-3", "data.root=/x/y=z", "eval.baselines=[center]",
                                "cls.test.dense_scales=64,80", "cls.test.bg_iou=(0.2,0.6)", "cls.models.0.name=b",
                                "data.generate=None"], TREE)
    assert parsed == {"eval.seed": 3, "eval.lr": 1e-3, "data.root": "/x/y=z", "eval.baselines": ["center"],
                      "cls.test.dense_scales": [64, 80], "cls.test.bg_iou": (0.2, 0.6), "cls.models.0.name": "b",
                      "data.generate": None}
    for option, message in [("eval.seed=1.5", "integer"), ("eval.lr=fast", "number"),
                            ("cls.test.dense_scales=[80,x]", "item 2: expected an integer"),
                            ("cls.test.dense_scales=[80", "unbalanced")]:
        with pytest.raises(UserInputError, match=message):
            parse_cfg_options([option], TREE)


def test_unknown_keys_name_the_nearest_valid_ones():
    with pytest.raises(UserInputError, match=r"data\.verify_image: no such key .*did you mean data\.verify_images"):
        parse_cfg_options(["data.verify_image=False"], TREE)
    with pytest.raises(UserInputError, match=r"cls\.models\.3\.name: no such key"):
        parse_cfg_options(["cls.models.3.name=x"], TREE)
    with pytest.raises(UserInputError, match=r"nothing\.at\.all: no such key"):
        parse_cfg_options(["nothing.at.all=1"], TREE)
    # a new key on purpose: +KEY=VALUE, into an existing section only
    assert parse_cfg_options(["+data.num_workers=2", "+cls.models.0.lr=0.1"], TREE) == {
        "data.num_workers": 2, "cls.models.0.lr": 0.1}
    with pytest.raises(UserInputError, match="no such key"):
        parse_cfg_options(["+nosection.key=1"], TREE)


@pytest.mark.parametrize("option, message", [
    ("key", "expected KEY=VALUE"), ("=1", "expected KEY=VALUE"), ("data..root=x", "empty part"),
    ("data=foo", "data is a config section"), ("cls.models.0=foo", "cls.models.0 is a config section"),
    ("cls.models=[dict(name=a,seed=dict(x=1))]", "list of config sections"),
    ("eval.baselines=[a,(b,c)]", "only flat lists"),
])
def test_malformed_options(option, message):
    with pytest.raises(UserInputError, match=message):
        parse_cfg_options([option], TREE)


def test_load_config_merges_strictly():
    cfg = load_config(SMOKE, ["data.skip_corrupt_images=no", "data.verify_images=yes", "eval.seed=2"])
    assert cfg.data.skip_corrupt_images is False and cfg.data.verify_images is True and cfg.eval.seed == 2
    with pytest.raises(UserInputError, match="did you mean data.verify_images"):
        load_config(SMOKE, ["data.verify_image=False"])


def test_load_config_errors_name_the_file(tmp_path):
    base_missing = tmp_path / "child.py"
    base_missing.write_text("_base_ = ['./gone.py']\n")
    bad_name = tmp_path / "name.py"
    bad_name.write_text("x = undefined\n")
    broken = tmp_path / "broken.py"
    broken.write_text("a = 1\nb = [\n")
    for path, message in [(tmp_path / "none.py", "config file not found"), (base_missing, "gone.py"),
                          (bad_name, "NameError"), (broken, r"broken\.py:2: syntax error"),
                          (tmp_path / "x.txt", "not found")]:
        with pytest.raises(UserInputError, match=message):
            load_config(path)
    (tmp_path / "x.txt").write_text("a = 1\n")
    with pytest.raises(UserInputError, match=r"x\.txt: expected a config file ending in \.py"):
        load_config(tmp_path / "x.txt")

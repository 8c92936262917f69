"""Bad input of the kinds the paper-size work added: weight files, DET val lists, override configs.

Each ends the tool with exit status 2 and its last line naming the file or option and what was
expected, never a traceback; the config and weight-file cases end before any stage runs.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs/mini/smoke.py")

pytestmark = pytest.mark.usefixtures("restore_package_logger")   # conftest.py


def last_line_error(capsys, code: int, *needles: str) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err, err
    last = [line for line in err.splitlines() if line.strip()][-1]
    for needle in needles:
        assert needle in last, (needle, last)
    return last


def run(tool_module, tmp_path, root, *options):
    return tool_module("run_pipeline").main(["--config", SMOKE, "--work-dir", str(tmp_path / "w"), "--submission-dir",
                                             str(tmp_path / "s"), "--data-root", str(root), "--cfg-options", *options])


def test_weight_files(smoke_root, tmp_path, capsys, tool_module, torchvision_resnet):
    missing = tmp_path / "nope.pth"
    code = run(tool_module, tmp_path, smoke_root, f"+cls.models.0.pretrained={missing}")
    last_line_error(capsys, code, "nope.pth")
    truncated = tmp_path / "cut.pth"
    torch.save(torchvision_resnet().state_dict(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:1000])
    code = run(tool_module, tmp_path, smoke_root, f"+cls.models.0.pretrained={truncated}")
    last_line_error(capsys, code, "cut.pth")
    code = run(tool_module, tmp_path, smoke_root, "+cls.models.0.pretrained=torchvision://resnet7")
    last_line_error(capsys, code, "resnet7")
    assert not list((tmp_path / "w").glob("*/manifest.json"))   # refused before any stage ran


@pytest.mark.parametrize("option, needle", [
    ("det.test.pyramid_max_size=abc", "det.test.pyramid_max_size"),
    ("det.test.pyramid_max_size=100", "det.test.pyramid_max_size"),
    ("det.test.scale=90", "det.test.scale"),
    ("cls.train.batch_size=0", "cls.train.batch_size"),
    ("+cls.train.base_batch_size=-4", "cls.train.base_batch_size"),
    ("+data.max_images.loc_val=0", "data.max_images"),
    ("cls.train.max_epochs=0", "pretrained"),
])
def test_override_configs(smoke_root, tmp_path, capsys, tool_module, option, needle):
    last_line_error(capsys, run(tool_module, tmp_path, smoke_root, option), needle)
    assert not list((tmp_path / "w").glob("*/manifest.json"))


def _root_with(smoke_root, tmp_path, relative: str, text: str) -> Path:
    root = tmp_path / "root"
    shutil.copytree(smoke_root, root)
    (root / relative).write_text(text)
    return root


def test_det_val_lists(smoke_root, tmp_path, capsys, tool_module):
    val2 = "ILSVRC/devkit/data/det_lists/val2.txt"
    root = _root_with(smoke_root, tmp_path, val2, "ILSVRC2012_val_99999999 1\n")   # not an image of val.txt
    code = tool_module("run_pipeline").main(["--config", SMOKE, "--work-dir", str(tmp_path / "w"), "--stage", "data",
                                             "--data-root", str(root)])
    last_line_error(capsys, code, "val2.txt", "not in val.txt")
    (root / val2).write_text("ILSVRC2012_val_00000001\n")   # one field
    code = tool_module("run_pipeline").main(["--config", SMOKE, "--work-dir", str(tmp_path / "w2"), "--stage", "data",
                                             "--data-root", str(root)])
    last_line_error(capsys, code, "val2.txt:1")
    (root / val2).unlink()
    (root / "ILSVRC/devkit/data/det_lists/val1.txt").unlink()
    code = tool_module("run_pipeline").main(["--config", SMOKE, "--work-dir", str(tmp_path / "w3"), "--stage", "data",
                                             "--data-root", str(root)])
    last_line_error(capsys, code, "ilsvrc13_val2.txt")

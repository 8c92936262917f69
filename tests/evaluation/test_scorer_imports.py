"""The scoring path loads neither torch nor mmengine: a scoring call costs the interpreter, not torch.

``tools/evaluate.py`` is what users outside the pipeline run first, often many times in a row; torch
alone took about 2 s to import on a 2-core machine, more than the rest of a warm call. Each case runs
the CLI in a fresh subprocess, as a user does, and lists what it had imported at exit.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "mmengine", "mmcv")
RUNNER = """
import json, runpy, sys
sys.argv = ["tools/evaluate.py"] + json.loads(sys.argv[1])
code = 0
try:
    runpy.run_path("tools/evaluate.py", run_name="__main__")
except SystemExit as exc:
    code = exc.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
print(json.dumps({"code": code, "heavy": heavy}))
""".replace("HEAVY", repr(HEAVY))


def evaluate(*args) -> dict:
    res = subprocess.run([sys.executable, "-c", RUNNER, json.dumps([str(a) for a in args])], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_explicit_files_with_json_and_coco_out(scoring_fixture, tmp_path):
    f = scoring_fixture
    out = evaluate("det", "--pred", f / "det/pred.txt", "--gt-xml-dir", f / "det/Annotations", "--synsets",
                   f / "synsets.txt", "--image-list", f / "det/val.txt", "--blacklist", f / "det/blacklist.txt",
                   "--json-out", tmp_path / "det.json", "--coco-out", tmp_path / "coco")
    assert out == {"code": 0, "heavy": []}
    out = evaluate("loc", "--pred", f / "loc/pred.txt", "--gt-xml-dir", f / "loc/Annotations", "--synsets",
                   f / "synsets.txt", "--json-out", tmp_path / "loc.json")
    assert out == {"code": 0, "heavy": []} and (tmp_path / "loc.json").is_file()


@pytest.fixture(scope="module")
def smoke_files(smoke_root, tmp_path_factory):
    """A LOC file (whole-image guesses of class 1) and a DET file for the smoke root's val images."""
    import pandas as pd

    from ilsvrc_pipe.data.image_sets import read_image_list

    base = tmp_path_factory.mktemp("scorer_imports")
    n_loc = len(read_image_list(smoke_root / "ILSVRC/ImageSets/CLS-LOC/val.txt"))
    (base / "loc.txt").write_text("1 0 0 20 20 2 0 0 20 20\n" * n_loc)
    det = read_image_list(smoke_root / "ILSVRC/ImageSets/DET/val.txt")
    lines = [f"{i} 1 0.9 0 0 30 30" for i in pd.Series(det["index"]).iloc[:4]]
    (base / "det.txt").write_text("\n".join(lines) + "\n")
    return base


def test_with_a_data_root(smoke_root, smoke_files, tmp_path):
    out = evaluate("loc", "--pred", smoke_files / "loc.txt", "--data-root", smoke_root, "--json-out", tmp_path / "a.json")
    assert out == {"code": 0, "heavy": []}
    out = evaluate("det", "--pred", smoke_files / "det.txt", "--data-root", smoke_root, "--split", "val",
                   "--json-out", tmp_path / "b.json")
    assert out == {"code": 0, "heavy": []}
    out = evaluate("det", "--pred", smoke_files / "det.txt", "--data-root", smoke_root, "--split", "val2",
                   "--drop-outside-split", "--json-out", tmp_path / "c.json")
    assert out == {"code": 0, "heavy": []}
    out = evaluate("loc", "--baseline", "center", "--data-root", smoke_root, "--json-out", tmp_path / "d.json")
    assert out == {"code": 0, "heavy": []}


def test_a_bad_input_is_still_one_line_without_torch(tmp_path):
    out = evaluate("loc", "--pred", tmp_path / "missing.txt", "--gt-xml-dir", tmp_path, "--synsets", tmp_path / "s.txt")
    assert out == {"code": 2, "heavy": []}

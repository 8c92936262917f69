"""tools/evaluate.py on the official fixture (subprocess) and its argument plumbing (in process)."""
from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from ilsvrc_pipe.data.synsets import read_synsets
from ilsvrc_pipe.evaluation import load_loc_ground_truth
from ilsvrc_pipe.submission import read_loc_file, write_kaggle_loc_csv

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "evaluate.py"


def run_tool(*args, cwd=REPO):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def load_tool():
    spec = importlib.util.spec_from_file_location("evaluate_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # tools/evaluate.py in a subprocess
def test_loc_cli_reproduces_the_official_numbers(scoring_fixture, expected, tmp_path):
    out = tmp_path / "loc.json"
    proc = run_tool("loc", "--pred", scoring_fixture / "loc/pred.txt", "--gt-xml-dir", scoring_fixture / "loc/Annotations",
                    "--synsets", scoring_fixture / "synsets.txt", "--blacklist", scoring_fixture / "loc/blacklist.txt",
                    "--json-out", out)
    assert proc.returncode == 0, proc.stderr
    assert "loc error" in proc.stdout
    result = json.loads(out.read_text())
    np.testing.assert_allclose(result["cls_error"], expected["loc"]["cls_error"], atol=1e-9, rtol=0)
    np.testing.assert_allclose(result["loc_error"], expected["loc"]["loc_error"], atol=1e-9, rtol=0)
    assert result["n_images"] == 200 and result["n_blacklisted"] == 10


@pytest.mark.slow  # tools/evaluate.py in a subprocess
def test_det_cli_reproduces_the_official_numbers(scoring_fixture, expected, tmp_path):
    out = tmp_path / "det.json"
    proc = run_tool("det", "--pred", scoring_fixture / "det/pred.txt", "--gt-xml-dir", scoring_fixture / "det/Annotations",
                    "--synsets", scoring_fixture / "synsets.txt", "--image-list", scoring_fixture / "det/val.txt",
                    "--blacklist", scoring_fixture / "det/blacklist.txt", "--json-out", out)
    assert proc.returncode == 0, proc.stderr
    assert "mAP" in proc.stdout
    result = json.loads(out.read_text())
    assert result["mAP"] == pytest.approx(expected["det"]["mAP"], abs=1e-9)
    assert set(result["ap"]) == set(expected["det"]["ap"])
    for cid, ap in expected["det"]["ap"].items():
        assert result["ap"][cid] == pytest.approx(ap, abs=1e-9)
    assert result["n_images"] == 200 and result["n_detections"] == 843


@pytest.mark.slow  # tools/evaluate.py in a subprocess
def test_loc_cli_accepts_a_shuffled_kaggle_csv(scoring_fixture, expected, tmp_path):
    synsets = read_synsets(scoring_fixture / "synsets.txt")
    stems = load_loc_ground_truth(scoring_fixture / "loc/Annotations", synsets).stems
    kaggle = tmp_path / "sub.csv"
    original = read_loc_file(scoring_fixture / "loc/pred.txt")
    write_kaggle_loc_csv(kaggle, stems, original.labels, original.boxes, synsets)
    with open(kaggle, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    body = [body[i] for i in np.random.default_rng(0).permutation(len(body))]
    with open(kaggle, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([header] + body)
    out = tmp_path / "loc.json"
    proc = run_tool("loc", "--pred", kaggle, "--gt-xml-dir", scoring_fixture / "loc/Annotations", "--synsets",
                    scoring_fixture / "synsets.txt", "--blacklist", scoring_fixture / "loc/blacklist.txt",
                    "--json-out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(json.loads(out.read_text())["loc_error"], expected["loc"]["loc_error"], atol=1e-9)


@pytest.mark.slow  # tools/evaluate.py in a subprocess
def test_cli_reports_a_bad_line_without_a_traceback(scoring_fixture, tmp_path):
    pred = tmp_path / "pred.txt"
    lines = (scoring_fixture / "det/pred.txt").read_text().splitlines()
    lines[4] = "1 1 nan 0 0 9 9"
    pred.write_text("\n".join(lines) + "\n")
    proc = run_tool("det", "--pred", pred, "--gt-xml-dir", scoring_fixture / "det/Annotations", "--synsets",
                    scoring_fixture / "synsets.txt", "--image-list", scoring_fixture / "det/val.txt")
    assert proc.returncode == 2
    assert f"{pred}:5:" in proc.stderr and "Traceback" not in proc.stderr


def test_ground_truth_source_is_required():
    tool = load_tool()
    with pytest.raises(SystemExit):
        tool.main(["det", "--pred", "x.txt", "--gt-xml-dir", "xml", "--synsets", "s.txt"])  # no --image-list
    with pytest.raises(SystemExit):
        tool.main(["loc", "--pred", "x.txt"])
    with pytest.raises(SystemExit):
        tool.main(["loc", "--baseline", "center", "--gt-xml-dir", "xml", "--synsets", "s.txt"])


def test_baseline_plumbing_calls_evaluate_baselines(monkeypatch, tmp_path, capsys):
    calls = []
    fake = types.ModuleType("ilsvrc_pipe.evaluation.baselines")

    def evaluate_baselines(data_root, kinds):
        calls.append((data_root, kinds))
        return {kind: {"gt_class_error": 0.25, "top1_error": 0.5, "top5_error": 0.375, "n_images": 4,
                       "rel_size": [0.5, 0.5]} for kind in kinds}

    fake.evaluate_baselines = evaluate_baselines
    monkeypatch.setitem(sys.modules, "ilsvrc_pipe.evaluation.baselines", fake)
    out = tmp_path / "base.json"
    code = load_tool().main(["loc", "--baseline", "full-image", "--baseline", "center", "--data-root", str(tmp_path),
                             "--json-out", str(out)])
    assert code == 0
    assert calls == [(str(tmp_path), ["full-image", "center"])]
    assert set(json.loads(out.read_text())) == {"full-image", "center"}
    printed = capsys.readouterr().out
    assert "top5_error" in printed and "0.3750" in printed and "center" in printed


def test_det_cli_on_a_data_root_split_scores_only_that_split(data_root, tmp_path, capsys):
    pred = tmp_path / "pred.txt"
    pred.write_text("1 1 0.9 0 0 99 99\n2 1 0.5 0 0 99 99\n4 1 0.95 0 0 99 99\n")  # index 1 belongs to val1
    out = tmp_path / "det.json"
    assert load_tool().main(["det", "--pred", str(pred), "--data-root", str(data_root), "--split", "val2"]) == 2
    assert f"{pred}:1: image index 1 is not a val2 image" in capsys.readouterr().err  # never dropped silently
    assert load_tool().main(["det", "--pred", str(pred), "--data-root", str(data_root), "--split", "val2",
                             "--drop-outside-split", "--json-out", str(out)]) == 0
    assert "dropped 1 detections of images outside val2" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["ap"]["1"] == pytest.approx(0.5) and result["n_images"] == 2 and result["n_detections"] == 2
    assert load_tool().main(["det", "--pred", str(pred), "--data-root", str(data_root), "--split", "val"]) == 0
    pred.write_text("9 1 0.9 0 0 99 99\n")
    assert load_tool().main(["det", "--pred", str(pred), "--data-root", str(data_root), "--split", "val2"]) == 2
    assert "image index 9 is not in the image list" in capsys.readouterr().err


def test_loc_cli_on_a_data_root(data_root, tmp_path):
    pred = tmp_path / "pred.txt"
    pred.write_text("2 0 0 99 99\n2 0 0 99 99\n2 0 0 99 99\n")  # classes 2, 1, 2; image 2 is blacklisted
    out = tmp_path / "loc.json"
    assert load_tool().main(["loc", "--pred", str(pred), "--data-root", str(data_root), "--json-out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["cls_error"][0] == pytest.approx(1 / 3) and result["loc_error"][0] == 0.0
    assert result["n_blacklisted"] == 1


def test_det_cli_against_a_second_file(data_root, tmp_path, capsys):
    better, worse = tmp_path / "better.txt", tmp_path / "worse.txt"
    better.write_text("2 1 0.9 0 0 99 99\n")                        # AP 1 on val2
    worse.write_text("2 1 0.9 0 0 99 99\n4 1 0.95 0 0 99 99\n")     # a false positive ranked first: AP 0.5
    out = tmp_path / "det.json"
    assert load_tool().main(["det", "--pred", str(better), "--data-root", str(data_root), "--split", "val2",
                             "--against", str(worse), "--draws", "50", "--json-out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"mAP(--pred) - mAP({worse}): " in printed and "bootstrap draws of the 2 images" in printed
    result = json.loads(out.read_text())
    against = result["against"]
    assert against["file"] == str(worse) and 0 < against["draws"] <= 50   # a draw without objects is not scored
    worse_out = tmp_path / "worse.json"
    assert load_tool().main(["det", "--pred", str(worse), "--data-root", str(data_root), "--split", "val2",
                             "--json-out", str(worse_out)]) == 0
    expected = result["mAP"] - json.loads(worse_out.read_text())["mAP"]
    assert expected > 0 and against["delta"] == pytest.approx(expected)
    assert 0 <= against["low"] <= against["delta"] <= against["high"]
    assert load_tool().main(["det", "--pred", str(better), "--data-root", str(data_root), "--split", "val2",
                             "--against", str(tmp_path / "missing.txt")]) == 2
    assert "--against" in capsys.readouterr().err

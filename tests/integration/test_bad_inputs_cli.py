"""Bad input at the edge of every tool: one ``error:`` line naming the file or option, exit status 2,
never a traceback, for the tools' options and the config.

The tools' ``main(argv)`` run in process (fast); nothing here trains or decodes a dataset.
"""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs/mini/smoke.py")


pytestmark = pytest.mark.usefixtures("restore_package_logger")   # conftest.py


def one_error_line(capsys, code: int, *needles: str) -> str:
    """The run failed with status 2 and exactly one stderr line, ``error: ...`` holding ``needles``."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# -- tools/evaluate.py ---------------------------------------------------------------------------
def det_args(fixture: Path, pred) -> list[str]:
    return ["det", "--pred", str(pred), "--gt-xml-dir", str(fixture / "det/Annotations"),
            "--synsets", str(fixture / "synsets.txt"), "--image-list", str(fixture / "det/val.txt")]


def loc_args(fixture: Path, pred, *extra) -> list[str]:
    return ["loc", "--pred", str(pred), "--gt-xml-dir", str(fixture / "loc/Annotations"),
            "--synsets", str(fixture / "synsets.txt"), *map(str, extra)]


def test_evaluate_directory_as_pred_or_json_out(scoring_fixture, tmp_path, capsys, tool_module):
    tool = tool_module("evaluate")
    one_error_line(capsys, tool.main(det_args(scoring_fixture, tmp_path)), f"--pred {tmp_path}", "directory")
    one_error_line(capsys, tool.main(loc_args(scoring_fixture, tmp_path)), f"--pred {tmp_path}", "directory")
    code = tool.main(det_args(scoring_fixture, scoring_fixture / "det/pred.txt") + ["--json-out", str(tmp_path)])
    one_error_line(capsys, code, f"--json-out {tmp_path}", "directory")
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = tool.main(det_args(scoring_fixture, scoring_fixture / "det/pred.txt") + ["--json-out", str(blocker / "x.json")])
    one_error_line(capsys, code, str(blocker), "not a folder")


def test_evaluate_missing_files_and_roots(scoring_fixture, tmp_path, capsys, tool_module):
    tool = tool_module("evaluate")
    one_error_line(capsys, tool.main(det_args(scoring_fixture, tmp_path / "none.txt")), "none.txt", "not found")
    code = tool.main(["loc", "--pred", str(scoring_fixture / "loc/pred.txt"), "--data-root", str(tmp_path / "nope")])
    one_error_line(capsys, code, "--data-root", "nope")
    code = tool.main(loc_args(scoring_fixture, scoring_fixture / "loc/pred.txt", "--blacklist", tmp_path))
    one_error_line(capsys, code, "--blacklist", "directory")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "binary"])
def test_evaluate_det_file_in_a_wrong_encoding(scoring_fixture, tmp_path, capsys, encoding, tool_module):
    text = (scoring_fixture / "det/pred.txt").read_text()
    pred = tmp_path / "pred.txt"
    pred.write_bytes(bytes(range(128, 256)) * 3 if encoding == "binary" else text.encode(encoding))
    line = one_error_line(capsys, tool_module("evaluate").main(det_args(scoring_fixture, pred)), str(pred))
    assert ("UTF-16" in line) == (encoding != "binary")


def test_evaluate_loc_files_in_a_wrong_encoding(scoring_fixture, tmp_path, capsys, tool_module):
    pred = tmp_path / "pred.txt"
    pred.write_bytes((scoring_fixture / "loc/pred.txt").read_text().encode("utf-16"))
    one_error_line(capsys, tool_module("evaluate").main(loc_args(scoring_fixture, pred)), str(pred), "UTF-16")
    synsets = tmp_path / "synsets.txt"
    synsets.write_bytes((scoring_fixture / "synsets.txt").read_text().encode("utf-16"))
    args = ["loc", "--pred", str(scoring_fixture / "loc/pred.txt"), "--gt-xml-dir",
            str(scoring_fixture / "loc/Annotations"), "--synsets", str(synsets)]
    one_error_line(capsys, tool_module("evaluate").main(args), str(synsets), "UTF-16")


def test_evaluate_accepts_a_utf8_byte_order_mark(scoring_fixture, tmp_path, capsys, tool_module):
    pred = tmp_path / "pred.txt"
    pred.write_bytes(b"\xef\xbb\xbf" + (scoring_fixture / "loc/pred.txt").read_bytes())
    assert tool_module("evaluate").main(loc_args(scoring_fixture, pred)) == 0


@pytest.mark.parametrize("header", ["Id,Pred", "ImageID,PredictionString", "image_id,predictions"])
def test_evaluate_csv_with_another_header_says_which(scoring_fixture, tmp_path, capsys, header, tool_module):
    pred = tmp_path / "sub.csv"
    pred.write_text(f"{header}\nILSVRC2012_val_00000001,1 0 0 9 9\n")
    one_error_line(capsys, tool_module("evaluate").main(loc_args(scoring_fixture, pred)), f"{pred}:1:",
                   "ImageId,PredictionString", repr(header))


def test_evaluate_loc_blacklist_entry_out_of_range(scoring_fixture, tmp_path, capsys, tool_module):
    blacklist = tmp_path / "blacklist.txt"
    blacklist.write_text("7\n\n999\n")
    code = tool_module("evaluate").main(loc_args(scoring_fixture, scoring_fixture / "loc/pred.txt", "--blacklist", blacklist))
    one_error_line(capsys, code, f"{blacklist}:3:", "999", "1..200")


def test_evaluate_gt_xml_with_a_nan_coordinate(scoring_fixture, tmp_path, capsys, tool_module):
    """The scorer reads such a box as the data stage does: an error naming file and line."""
    import shutil

    xml_dir = tmp_path / "Annotations"
    shutil.copytree(scoring_fixture / "loc/Annotations", xml_dir)
    victim = sorted(xml_dir.glob("*.xml"))[3]
    text = victim.read_text()
    start = text.index("<xmin>") + len("<xmin>")
    victim.write_text(text[:start] + "nan" + text[text.index("</xmin>"):])
    args = ["loc", "--pred", str(scoring_fixture / "loc/pred.txt"), "--gt-xml-dir", str(xml_dir),
            "--synsets", str(scoring_fixture / "synsets.txt")]
    one_error_line(capsys, tool_module("evaluate").main(args), f"{victim}:", "xmin", "finite", "'nan'")


# -- tools/run_pipeline.py and tools/train.py: config and options --------------------------------
@pytest.mark.parametrize("option, needles", [
    ("key", ["'key'", "KEY=VALUE"]),
    ("data=foo", ["data is a config section", "data.root"]),
    ("data.verify_image=False", ["data.verify_image", "did you mean data.verify_images"]),
    ("data.verify_images=Flase", ["data.verify_images", "'Flase'", "boolean"]),
    ("data.skip_corrupt_images=maybe", ["data.skip_corrupt_images", "boolean"]),
    ("cls.models=[dict(name=a,backbone=dict(depth=18))]", ["cls.models", "list of config sections"]),
    ("eval.baselines=[center,[full-image]]", ["eval.baselines", "flat lists"]),
    ("eval.seed=one", ["eval.seed", "integer"]),
])
def test_run_pipeline_rejects_bad_cfg_options(tmp_path, capsys, option, needles, tool_module):
    code = tool_module("run_pipeline").main(["--config", SMOKE, "--work-dir", str(tmp_path / "w"), "--stage", "data",
                                      "--cfg-options", option])
    one_error_line(capsys, code, "--cfg-options", *needles)
    assert not (tmp_path / "w").exists()  # nothing written before the options were checked


def test_run_pipeline_config_errors(tmp_path, capsys, tool_module):
    tool = tool_module("run_pipeline")
    broken = tmp_path / "broken.py"
    broken.write_text("data = dict(\n    root='x',\n    det=True\n")
    text_config = tmp_path / "config.txt"
    text_config.write_text("data = dict(root='x')\n")
    cases = [(tmp_path / "missing.py", ["missing.py", "not found"]),
             (broken, [f"{broken}:1:", "syntax error"]),
             (text_config, [str(text_config), ".py"]),
             (tmp_path, [str(tmp_path), "directory"])]
    for config, needles in cases:
        code = tool.main(["--config", str(config), "--work-dir", str(tmp_path / "w"), "--stage", "data"])
        one_error_line(capsys, code, *needles)


def test_run_pipeline_work_dir_or_data_root_that_is_a_file(tmp_path, capsys, tool_module):
    tool = tool_module("run_pipeline")
    afile = tmp_path / "afile"
    afile.write_text("")
    one_error_line(capsys, tool.main(["--config", SMOKE, "--work-dir", str(afile), "--stage", "data"]),
                   f"--work-dir {afile}", "file")
    code = tool.main(["--config", SMOKE, "--work-dir", str(tmp_path / "w"), "--stage", "data", "--data-root", str(afile)])
    one_error_line(capsys, code, f"--data-root {afile}", "folder")
    code = tool.main(["--config", SMOKE, "--work-dir", str(tmp_path / "w"), "--stage", "data",
                      "--submission-dir", str(afile / "sub")])
    one_error_line(capsys, code, "--submission-dir", str(afile))


def test_train_config_and_options_errors(tmp_path, capsys, tool_module):
    tool = tool_module("train")
    code = tool.main(["--config", str(tmp_path / "none.py"), "--member", "x"])
    one_error_line(capsys, code, "none.py", "not found")
    code = tool.main(["--config", SMOKE, "--member", "x", "--cfg-options", "cls.train.max_epoch=1"])
    one_error_line(capsys, code, "cls.train.max_epoch", "cls.train.max_epochs")


def test_make_mini_ilsvrc_out_that_is_a_file(tmp_path, capsys, tool_module):
    afile = tmp_path / "afile"
    afile.write_text("")
    code = tool_module("make_mini_ilsvrc").main(["--out", str(afile / "mini"), "--preset", "smoke"])
    one_error_line(capsys, code, str(afile), "file")



@pytest.mark.parametrize("stage", ["", " ", ",", "data,nothing"])
def test_run_pipeline_stage_list_that_names_no_stage(tmp_path, capsys, stage, tool_module):
    with pytest.raises(SystemExit) as exit_info:
        tool_module("run_pipeline").main(["--config", SMOKE, "--work-dir", str(tmp_path / "w"), "--stage", stage])
    assert exit_info.value.code == 2 and "stage" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_evaluate_empty_inputs(scoring_fixture, tmp_path, capsys, tool_module):
    """An empty image list is an error naming it; an empty DET file scores 0 with a warning."""
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    args = det_args(scoring_fixture, scoring_fixture / "det/pred.txt")
    args[args.index("--image-list") + 1] = str(empty)
    one_error_line(capsys, tool_module("evaluate").main(args), f"{empty}: no images listed")
    assert tool_module("evaluate").main(det_args(scoring_fixture, empty)) == 0
    assert f"warning: {empty} holds no detections" in capsys.readouterr().err


def test_evaluate_warns_of_det_blacklist_entries_outside_the_image_list(scoring_fixture, tmp_path, capsys, tool_module):
    blacklist = tmp_path / "blacklist.txt"
    blacklist.write_text((scoring_fixture / "det/blacklist.txt").read_text() + "9999 n08132394\n")
    args = det_args(scoring_fixture, scoring_fixture / "det/pred.txt") + ["--blacklist", str(blacklist)]
    assert tool_module("evaluate").main(args) == 0
    assert f"warning: {blacklist}: 1 of" in capsys.readouterr().err
    assert tool_module("evaluate").main(det_args(scoring_fixture, scoring_fixture / "det/pred.txt")
                                 + ["--blacklist", str(scoring_fixture / "det/blacklist.txt")]) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_run_pipeline_device_cuda_without_a_gpu_is_one_line(tmp_path, capsys, tool_module):
    code = tool_module("run_pipeline").main(["--config", SMOKE, "--work-dir", str(tmp_path / "w"), "--stage", "data",
                                      "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and "no CUDA device" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_repository_config_found_from_another_directory(tmp_path, monkeypatch):
    from ilsvrc_pipe.config.cli import load_config

    monkeypatch.chdir(tmp_path)
    assert load_config("configs/mini/smoke.py").data.generate.preset == "smoke"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("tool", ["run_pipeline", "train"])
def test_fp16_training_without_a_gpu_is_one_line_before_any_work(tool, tmp_path, capsys, tool_module):
    args = ["--config", SMOKE, "--work-dir", str(tmp_path / "w"), "--cfg-options", "precision.train=fp16"]
    code = tool_module(tool).main(args + (["--stage", "cls"] if tool == "run_pipeline" else ["--member", "resnet18_w025"]))
    one_error_line(capsys, code, "precision.train='fp16' needs a CUDA GPU", "'bf16' or 'fp32'")
    assert not (tmp_path / "w").exists()


def test_unknown_precision_is_one_line(tmp_path, capsys, tool_module):
    code = tool_module("run_pipeline").main(["--config", SMOKE, "--work-dir", str(tmp_path / "w"), "--stage", "data",
                                      "--cfg-options", "precision.test=fp64"])
    one_error_line(capsys, code, "precision.test='fp64': expected one of fp32, bf16, fp16")

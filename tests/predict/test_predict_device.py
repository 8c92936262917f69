"""tools/predict.py ``--device`` and ``--precision`` without a trained run: the smoke root's ``data`` stage and
an untrained detector saved as a finished ``det`` stage's weights are all ``--task det --det-row`` reads."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs/mini/smoke.py")

pytestmark = pytest.mark.usefixtures("restore_package_logger")   # conftest.py


@pytest.fixture(scope="module")
def det_work(smoke_root, tmp_path_factory, tool_module):
    """A work dir with the data stage done and a random-weight ``det_a`` as the det stage's model."""
    from ilsvrc_pipe.config.cli import load_config
    from ilsvrc_pipe.engine.pipeline import Pipeline
    from ilsvrc_pipe.engine.specs import det_model_cfg
    from ilsvrc_pipe.registry import MODELS
    from ilsvrc_pipe.stages import default_stages

    work = tmp_path_factory.mktemp("predict_device") / "work"
    cfg = load_config(SMOKE, [f"data.root={smoke_root}"])
    pipe = Pipeline(cfg, smoke_root, work, default_stages())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pipe.run(["data"])
        classes = pipe.artifacts.read_classes()
        members = {m["name"]: m for m in cfg.det.models}
        torch.manual_seed(0)
        model = MODELS.build(det_model_cfg(members["det_a"], cfg.det, {m["name"]: m for m in cfg.cls.models},
                                           len(classes["det"])))
    finally:
        torch.set_num_threads(threads)
    weights = pipe.artifacts.final_weights("det", "det_a")
    weights.parent.mkdir(parents=True)
    torch.save(model.state_dict(), weights)
    pipe.manifest_path("det").write_text(json.dumps({"fingerprint": pipe.fingerprint("det")}))
    images = sorted((smoke_root / "ILSVRC/Data/DET/test").glob("*.JPEG"))[:2]
    return {"work": work, "root": smoke_root, "images": images, "tool": tool_module("predict")}


def predict(det_work, out: Path, *extra: str) -> int:
    return det_work["tool"].main(["--work-dir", str(det_work["work"]), "--task", "det", "--det-row", "baseline",
                                 "--images", *map(str, det_work["images"]), "--out", str(out), "--score-thr", "0",
                                 "--config", SMOKE, "--cfg-options", f"data.root={det_work['root']}", *extra])


def test_predict_on_cpu_in_fp32_and_bf16(det_work, tmp_path, monkeypatch, capsys, single_thread):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")   # what --device cpu sets; restored after the test
    runs = {}
    for name in ("fp32", "bf16"):
        out = tmp_path / name
        assert predict(det_work, out, "--device", "cpu", "--precision", name) == 0, capsys.readouterr().err
        info = json.loads((out / "info.json").read_text())
        assert (info["device"], info["precision"]) == ("cpu", name)
        runs[name] = json.loads((out / "predictions.json").read_text())
    assert "differs from the config" not in capsys.readouterr().err   # --precision is no config change
    for fp32, bf16 in zip(runs["fp32"], runs["bf16"]):
        assert fp32["file"] == bf16["file"] and fp32["boxes"] and bf16["boxes"]
        for entry in (fp32, bf16):
            for b in entry["boxes"]:
                x1, y1, x2, y2 = b["box"]
                assert 0 <= x1 <= x2 <= entry["width"] - 1 and 0 <= y1 <= y2 <= entry["height"] - 1
        assert abs(fp32["boxes"][0]["score"] - bf16["boxes"][0]["score"]) < 2e-2
    assert runs["fp32"] != runs["bf16"], "--precision bf16 gave the fp32 numbers: no autocast"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_predict_device_cuda_without_a_gpu_is_one_line(det_work, tmp_path, capsys):
    code = predict(det_work, tmp_path / "out", "--device", "cuda")
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("error: --device cuda: torch sees no CUDA device"), err
    assert not (tmp_path / "out").exists()

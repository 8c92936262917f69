"""The cls stage with pretrained weights: max_epochs=0 evaluates them without a training, and the
weight file's bytes enter the stage's fingerprint."""
import json
from pathlib import Path

import torch
import torchvision
from mmengine.config import Config

from ilsvrc_pipe.artifacts.parts import table_done
from ilsvrc_pipe.engine.pipeline import Pipeline
from ilsvrc_pipe.engine.specs import det_model_cfg, rcnn_model_cfg, rpn_model_cfg
from ilsvrc_pipe.registry import MODELS
from ilsvrc_pipe.stages import default_stages
from ilsvrc_pipe.utils.checkpoint import convert_torchvision_state_dict

REPO_ROOT = Path(__file__).resolve().parents[2]


def _save_resnet18(path: Path, seed: int) -> dict:
    torch.manual_seed(seed)
    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, path)
    return state


def _pipeline(cfg, root, work) -> Pipeline:
    return Pipeline(cfg, root, work, [s for s in default_stages() if s.name in ("data", "cls")])


def test_cls_evaluates_pretrained_weights_without_training(smoke_root, tmp_path, single_thread):
    weights = tmp_path / "resnet18_random.pth"
    state = _save_resnet18(weights, seed=0)
    cfg = Config.fromfile(str(REPO_ROOT / "configs/mini/smoke.py"))
    cfg.data.root = str(smoke_root)
    cfg.cls.models = [dict(name="r18", backbone=dict(depth=18), pretrained=str(weights))]
    cfg.cls.train.max_epochs = 0
    work = tmp_path / "work"
    pipe = _pipeline(cfg, smoke_root, work)
    before = pipe.fingerprint("cls")
    figures = pipe.run(["cls"])["cls"]["figures"]

    art = pipe.artifacts
    final = torch.load(art.final_weights("cls", "r18"), map_location="cpu", weights_only=True)
    backbone = {k: v for k, v in convert_torchvision_state_dict(state).items() if k.startswith("backbone.")}
    assert backbone and all(torch.equal(final[k], v) for k, v in backbone.items())
    assert set(figures["models"]["r18"]) == {"center", "ten_crop", "dense"}
    assert json.loads(art.metrics("cls").read_text())["members"] == ["r18"]
    assert table_done(art.top5("val")) and table_done(art.top5("test"))
    runner_files = [p.name for p in art.train_dir("cls", "r18").rglob("*") if p.is_file()]
    assert runner_files == ["final.pth"], runner_files   # no Runner ran: no checkpoint, no log

    # the localizers and detectors start from these final weights as from trained ones
    members, classes = {"r18": cfg.cls.models[0]}, len(art.read_classes()["clsloc"])
    init = art.final_weights("cls", "r18")
    for model_cfg in (rpn_model_cfg(dict(name="rpn", init_from="r18"), cfg.rpn, members, classes, init),
                      rcnn_model_cfg(dict(name="rcnn", init_from="r18"), cfg.rcnn, members, classes, init),
                      det_model_cfg(dict(name="det", init_from="r18"), cfg.det, members, 200, init)):
        model = MODELS.build(model_cfg)
        model.init_weights()
        assert torch.equal(model.backbone.layer3[1].conv2.weight, final["backbone.layer3.1.conv2.weight"])

    assert _pipeline(cfg, smoke_root, work).plan(["cls"]) == []   # nothing edited: the cache holds
    _save_resnet18(weights, seed=1)
    after = _pipeline(cfg, smoke_root, work).fingerprint("cls")
    assert after["config"] == before["config"] and after["inputs"] != before["inputs"]
    assert _pipeline(cfg, smoke_root, work).plan(["cls"]) == ["cls"]

"""Training specs from the config: models that start from a classifier name its weights in init_cfg."""
from pathlib import Path

import torch
from mmengine.config import Config

from ilsvrc_pipe.artifacts import Artifacts
from ilsvrc_pipe.specs import load_weights, member_train_spec, rcnn_model_cfg, rpn_model_cfg, rpn_train_spec

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_specs_follow_the_config_and_the_artifact_map(tmp_path):
    cfg = Config.fromfile(str(REPO_ROOT / "configs/mini/smoke.py"))
    art = Artifacts(tmp_path / "work")
    members = {m["name"]: m for m in cfg.cls.models}
    cls_spec = member_train_spec(cfg.cls.models[1], cfg.cls.train, art, 4)
    loader = cls_spec["train_dataloader"]
    assert loader["dataset"]["images"] == str(art.records("loc", "train", "images"))
    assert loader["sampler"] == dict(type="SeededSampler", shuffle=True, seed=1)
    assert loader["pin_memory"] == torch.cuda.is_available() and loader["num_workers"] == 0
    paper = member_train_spec(cfg.cls.models[1], {**cfg.cls.train, "num_workers": 8, "pin_memory": True}, art, 4)
    assert paper["train_dataloader"]["pin_memory"] and paper["train_dataloader"]["persistent_workers"]
    init = art.final_weights("cls", "resnet18_w025")
    rpn = rpn_model_cfg(cfg.rpn.models[0], cfg.rpn, members, 4, init)
    assert rpn["init_cfg"] == {"type": "Classifier", "checkpoint": str(init)}
    assert rpn["backbone"]["out_indices"] == (2,) and "init_cfg" not in rpn_model_cfg(cfg.rpn.models[0], cfg.rpn, members, 4)
    assert rpn_train_spec(rpn, cfg.rpn.train, art, seed=5)["train_dataloader"]["sampler"]["seed"] == 5
    assert rcnn_model_cfg(cfg.rcnn.models[0], cfg.rcnn, members, 4, init)["init_cfg"]["checkpoint"] == str(init)


def test_load_weights_ignores_init_cfg_and_loads_the_trained_weights(tmp_path):
    cfg = {"type": "ResNetClassifier", "backbone": {"depth": 18, "width": 0.125}, "num_classes": 3,
           "init_cfg": {"type": "Classifier", "checkpoint": str(tmp_path / "absent.pth")}}
    from ilsvrc_pipe.registry import MODELS

    trained = MODELS.build({k: v for k, v in cfg.items() if k != "init_cfg"})
    torch.nn.init.normal_(trained.fc.weight)
    torch.save(trained.state_dict(), tmp_path / "final.pth")
    model = load_weights(cfg, tmp_path / "final.pth")
    assert not model.training and torch.equal(model.fc.weight, trained.fc.weight)

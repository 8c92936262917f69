"""Training specs from the config: models that start from a classifier name its weights in init_cfg."""
from pathlib import Path

import torch
from mmengine.config import Config

from ilsvrc_pipe.artifacts.paths import Artifacts
from ilsvrc_pipe.engine.specs import load_weights, member_train_spec, rcnn_model_cfg, rpn_model_cfg, rpn_train_spec

REPO_ROOT = Path(__file__).resolve().parents[2]


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


def test_localizers_take_the_classifiers_architecture_and_their_own_backbone_training_keys():
    cfg = Config.fromfile(str(REPO_ROOT / "configs/mini/smoke.py"))
    members = {m["name"]: m for m in cfg.cls.models}
    from ilsvrc_pipe.registry import MODELS

    for make, section in ((rpn_model_cfg, cfg.rpn), (rcnn_model_cfg, cfg.rcnn)):
        model_cfg = make(section.models[0], {**section, "backbone": {"frozen_stages": 1}}, members, 4)
        assert model_cfg["backbone"]["width"] == 0.25 and model_cfg["backbone"]["frozen_stages"] == 1
        model = MODELS.build(model_cfg).train()
        trunk = model.backbone
        assert not any(p.requires_grad for m in (trunk.stem, trunk.layer1) for p in m.parameters())
        assert all(p.requires_grad for p in trunk.layer2.parameters()) and not trunk.layer1.training
        assert "frozen_stages" not in make(section.models[0], section, members, 4)["backbone"]
    assert "frozen_stages" not in members["resnet18_w025"]["backbone"]   # the classifier's own config untouched


def test_load_weights_ignores_init_cfg_and_loads_the_trained_weights(tmp_path):
    cfg = {"type": "ResNetClassifier", "backbone": {"depth": 18, "width": 0.125}, "num_classes": 3,
           "init_cfg": {"type": "Classifier", "checkpoint": str(tmp_path / "absent.pth")}}
    from ilsvrc_pipe.registry import MODELS

    trained = MODELS.build({k: v for k, v in cfg.items() if k != "init_cfg"})
    torch.nn.init.normal_(trained.fc.weight)
    torch.save(trained.state_dict(), tmp_path / "final.pth")
    model = load_weights(cfg, tmp_path / "final.pth")
    assert not model.training and torch.equal(model.fc.weight, trained.fc.weight)


def _cls_section(**member) -> dict:
    return {"models": [{"name": "r18", "backbone": {"depth": 18}, **member}],
            "train": {"scale": (64, 88), "crop": 56, "batch_size": 16, "lr": 0.05, "milestones": (12,),
                      "max_epochs": 15}}


def test_check_pretrained_loads_every_member_strictly(tmp_path):
    import pytest
    import torchvision

    from ilsvrc_pipe.engine.specs import check_pretrained
    from ilsvrc_pipe.utils.errors import UserInputError

    weights = tmp_path / "r18.pth"
    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, weights)
    check_pretrained(_cls_section(pretrained=str(weights)))
    check_pretrained(_cls_section(pretrained=str(weights), train={"max_epochs": 0}))
    check_pretrained(_cls_section())   # no pretrained, trained from scratch: nothing to check

    cases = [
        (_cls_section(train={"max_epochs": 0}), "cls.models[0] (r18): train.max_epochs=0"),
        (_cls_section(pretrained=str(tmp_path / "absent.pth")), "absent.pth"),
        (_cls_section(pretrained="torchvision://resnet50"), "ResNet-50"),
        (_cls_section(pretrained=str(weights), backbone={"depth": 34}), "ResNet-34"),
    ]
    torch.save({k: v for k, v in state.items() if not k.startswith("layer4.1.")}, tmp_path / "cut.pth")
    cases.append((_cls_section(pretrained=str(tmp_path / "cut.pth")), "layer4.1."))
    for section, expected in cases:
        with pytest.raises(UserInputError) as exc:
            check_pretrained(section)
        assert expected in str(exc.value) and len(str(exc.value).splitlines()) == 1, str(exc.value)

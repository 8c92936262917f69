"""Pretrained classifier weights: ``torchvision://`` names found in torch hub's cache, local files in
torchvision's or this project's naming, strict loading, the fc rule, and one-line refusals."""
import hashlib
import logging
import os
import urllib.request

import pytest
import torch
import torchvision
from mmengine.runner.checkpoint import get_torchvision_models

from ilsvrc_pipe.artifacts.paths import Artifacts
from ilsvrc_pipe.data.synsets import SynsetTable
from ilsvrc_pipe.engine.specs import member_train_spec
from ilsvrc_pipe.models.backbone import pretrained
from ilsvrc_pipe.models.backbone.pretrained import (
    DEFAULT_TORCHVISION_TAG,
    load_pretrained,
    resolve_pretrained,
    torchvision_weights,
)
from ilsvrc_pipe.models.classification.classifier import ResNetClassifier
from ilsvrc_pipe.registry import MODELS
from ilsvrc_pipe.utils.errors import UserInputError

TRAIN = dict(scale=(64, 88), crop=56, batch_size=16, lr=0.05, milestones=(12,), max_epochs=15)


@pytest.fixture
def tv18(tmp_path, torchvision_resnet):
    """(path, model): a randomised torchvision ResNet-18 saved as torchvision saves its weights."""
    model = torchvision_resnet()
    path = tmp_path / "resnet18_random.pth"
    torch.save(model.state_dict(), path)
    return path, model


def one_line_error(excinfo, *parts) -> str:
    text = str(excinfo.value)
    assert len(text.splitlines()) == 1, text
    for part in parts:
        assert str(part) in text, text
    return text


def test_torchvision_file_gives_torchvision_outputs(tv18, single_thread):
    path, theirs = tv18
    ours = ResNetClassifier(dict(depth=18), num_classes=1000)
    assert load_pretrained(ours, str(path), load_fc=True) is True
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), theirs(x), atol=1e-5, rtol=0)


def test_project_final_weights_load_as_they_were_saved(tv18, tmp_path):
    path, _ = tv18
    first = ResNetClassifier(dict(depth=18), num_classes=1000)
    load_pretrained(first, str(path), load_fc=True)
    final = tmp_path / "final.pth"
    torch.save(first.state_dict(), final)
    second = ResNetClassifier(dict(depth=18), num_classes=1000)
    assert load_pretrained(second, str(final), load_fc=True) is True
    for key, value in first.state_dict().items():
        assert torch.equal(second.state_dict()[key], value), key


def _classes(art: Artifacts, wnids: list[str]) -> None:
    art.write_classes({"clsloc": SynsetTable(tuple(wnids), tuple(wnids), "test")})


def test_fc_loads_only_for_imagenet_classes(tv18, tmp_path, monkeypatch, caplog):
    """Through the member's spec: the Runner's model gets the weights in init_weights, never in its
    constructor; the fc only when the classes are ImageNet's 1,000 (faked here)."""
    path, theirs = tv18
    member = dict(name="r18", backbone=dict(depth=18), pretrained=str(path))
    fake = [f"n{i:08d}" for i in range(1000)]
    monkeypatch.setattr(pretrained, "IMAGENET_CLASSES_SHA256",
                        hashlib.sha256("\n".join(sorted(fake)).encode()).hexdigest())
    art = Artifacts(tmp_path / "imagenet")
    _classes(art, fake)
    model = MODELS.build(member_train_spec(member, TRAIN, art, 1000)["model"])
    assert not torch.equal(model.fc.weight, theirs.fc.weight)   # the constructor reads nothing
    model.init_weights()
    assert torch.equal(model.fc.weight, theirs.fc.weight) and torch.equal(model.fc.bias, theirs.fc.bias)
    assert torch.equal(model.backbone.stem.conv.weight, theirs.conv1.weight)

    other = Artifacts(tmp_path / "other")
    _classes(other, fake[:10])
    model = MODELS.build(member_train_spec(member, TRAIN, other, 10)["model"])
    monkeypatch.setattr(logging.getLogger("ilsvrc_pipe"), "propagate", True)   # a tool may have cut it
    with caplog.at_level(logging.INFO, logger="ilsvrc_pipe"):
        model.init_weights()
    assert torch.equal(model.backbone.layer4[1].bn2.running_var, theirs.layer4[1].bn2.running_var)
    assert model.fc.weight.shape == (10, 512) and float(model.fc.weight.detach().std()) < 0.02
    lines = [r.getMessage() for r in caplog.records if "fc" in r.getMessage()]
    assert len(lines) == 1 and str(path) in lines[0] and "ImageNet" in lines[0], lines


@pytest.fixture
def no_network(monkeypatch):
    """Any download attempt fails the test at once (instead of hanging on a machine without network)."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:1]}")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def test_torchvision_name_resolves_from_the_hub_cache(tv18, tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    url = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    expected = tmp_path / "torch_home" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    with pytest.raises(UserInputError) as missing:
        resolve_pretrained("torchvision://resnet18")
    one_line_error(missing, expected, url)

    expected.parent.mkdir(parents=True)
    os.link(tv18[0], expected)
    for source in ("torchvision://resnet18", "torchvision://resnet18.IMAGENET1K_V1",
                   "torchvision://resnet18.imagenet1k_v1"):
        assert resolve_pretrained(source) == expected
    model = ResNetClassifier(dict(depth=18), num_classes=1000)
    assert load_pretrained(model, "torchvision://resnet18", load_fc=True)
    assert torch.equal(model.fc.weight, tv18[1].fc.weight)


def test_default_tag_is_the_one_mmengine_loads_for_a_bare_name():
    """mmengine's ``torchvision://resnet101`` is torchvision 0.12's file: IMAGENET1K_V1."""
    assert DEFAULT_TORCHVISION_TAG == "IMAGENET1K_V1"
    urls = get_torchvision_models()
    for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
        assert torchvision_weights(name).url == urls[name]
    assert torchvision_weights("resnet101.IMAGENET1K_V2").url.endswith("/resnet101-cd907fc2.pth")


@pytest.mark.parametrize("source, expected", [
    ("torchvision://vgg16", "resnet18, resnet34, resnet50, resnet101, resnet152"),
    ("torchvision://resnet101.IMAGENET1K_V9", "IMAGENET1K_V1, IMAGENET1K_V2"),
    ("resnet18.pth", "resnet18.pth"),
])
def test_unknown_names_and_missing_files_are_one_line(source, expected, tmp_path, monkeypatch, no_network):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserInputError) as exc:
        resolve_pretrained(source, "cls.models[0].pretrained")
    one_line_error(exc, "cls.models[0].pretrained", expected)


class _Gadget:
    """Pickles as a call of a global that no weights-only allowlist holds."""

    def __reduce__(self):
        return (os.getcwd, ())


def _pickled_object(path, state):
    torch.save({**state, "extra": _Gadget()}, path)


def _truncated(path, state):
    torch.save(state, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _resnet50(path, state):
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)


def _stray_key(path, state):
    torch.save({**state, "layer5.0.conv1.weight": torch.zeros(1)}, path)


def _missing_key(path, state):
    torch.save({k: v for k, v in state.items() if k != "layer3.1.bn2.running_var"}, path)


def _not_a_state_dict(path, state):
    torch.save([state["conv1.weight"]], path)


@pytest.mark.parametrize("write, expected", [
    (_pickled_object, "pickled"),
    (_truncated, "truncated"),
    (_resnet50, "ResNet-18"),
    (_stray_key, "layer5.0.conv1.weight"),
    (_missing_key, "layer3.1.bn2.running_var"),
    (_not_a_state_dict, "state dict"),
])
def test_refused_files_are_one_line_naming_the_file(write, expected, tv18, tmp_path):
    path = tmp_path / "weights.pth"
    write(path, tv18[1].state_dict())
    model = ResNetClassifier(dict(depth=18), num_classes=1000)
    with pytest.raises(UserInputError) as exc:
        load_pretrained(model, str(path), load_fc=True)
    one_line_error(exc, path, expected)


def test_torchvision_weights_need_torchvision_layout(tv18):
    """Shapes alone would let these load: a stem without max pooling, or stride on a bottleneck's
    1x1 conv (paper v1), compute something else than torchvision's network with the same weights."""
    model = ResNetClassifier(dict(depth=18, stem_pool=False), num_classes=1000)
    with pytest.raises(UserInputError) as exc:
        load_pretrained(model, str(tv18[0]), load_fc=True)
    one_line_error(exc, tv18[0], "torchvision")


def test_imagenet_classes_are_the_real_devkit_classes():
    """The package's fingerprint of ImageNet's 1,000 WNIDs is that of the real devkit file."""
    from pathlib import Path

    from ilsvrc_pipe.data.synsets import read_synsets
    from ilsvrc_pipe.models.backbone.pretrained import is_imagenet_classes

    real = read_synsets(Path(__file__).resolve().parents[2] / "fixtures/real_devkit/meta_clsloc.mat")
    wnids = list(real.sorted_wnids)
    assert len(wnids) == 1000 and is_imagenet_classes(wnids) and is_imagenet_classes(reversed(wnids))
    assert not is_imagenet_classes(wnids[:999]) and not is_imagenet_classes(wnids[:999] + ["n99999999"])

"""Checkpoint I/O: torchvision ResNet import/export and weights-only mmengine resume."""
import os
import pickle

import pytest
import torch
import torchvision
from mmengine.hooks import Hook
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint
from torch.utils.data import Dataset

from ilsvrc_pipe.models.backbone.resnet import ResNet
from ilsvrc_pipe.models.classification.classifier import ResNetClassifier
from ilsvrc_pipe.utils.checkpoint import (
    allow_mmengine_checkpoint_globals,
    export_torchvision_resnet,
    load_torchvision_resnet,
    mmengine_checkpoint_globals,
    save_torchvision_resnet,
)


@pytest.fixture
def restore_safe_globals():
    """add_safe_globals is process-wide: give every test the allowlist it started with."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    yield
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(saved)


def test_torchvision_round_trip(tmp_path, torchvision_resnet):
    theirs = torchvision_resnet()
    path = tmp_path / "resnet18.pth"
    torch.save(theirs.state_dict(), path)
    ours = ResNetClassifier(dict(depth=18), num_classes=1000).eval()
    assert load_torchvision_resnet(ours, path) == ([], [])
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))

    back = torchvision.models.resnet18(weights=None).eval()
    back.load_state_dict(export_torchvision_resnet(ours), strict=True)
    save_torchvision_resnet(ours, tmp_path / "exported.pth")
    again = torch.load(tmp_path / "exported.pth", weights_only=True)
    assert set(again) == set(theirs.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(back(x), theirs(x))


def test_backbone_import_ignores_fc(tmp_path, torchvision_resnet):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision_resnet().state_dict(), path)
    backbone = ResNet(depth=18)
    assert load_torchvision_resnet(backbone, path) == ([], [])
    finetune = ResNetClassifier(dict(depth=18), num_classes=10)
    load_torchvision_resnet(finetune.backbone, path)


def test_shape_mismatch_names_key_and_shapes(tmp_path, torchvision_resnet):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision_resnet().state_dict(), path)
    with pytest.raises(ValueError, match=r"fc\.weight.*\(1000, 512\).*\(10, 512\)"):
        load_torchvision_resnet(ResNetClassifier(dict(depth=18), num_classes=10), path)
    with pytest.raises(ValueError, match=r"backbone\.stem\.conv\.weight.*conv1\.weight"):
        load_torchvision_resnet(ResNetClassifier(dict(depth=18, width=0.5), num_classes=1000),
                                path, strict=False)


class _Gadget:
    """Pickles as a call of a global that is not on any allowlist."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_torchvision_import_does_not_unpickle_objects(tmp_path, torchvision_resnet):
    path = tmp_path / "evil.pth"
    state = torchvision_resnet().state_dict()
    state["extra"] = _Gadget()
    torch.save(state, path)
    with pytest.raises(pickle.UnpicklingError):
        load_torchvision_resnet(ResNet(depth=18), path)


# ------------------------------------------------------------------------- mmengine resume

class ToyDataset(Dataset):
    def __init__(self, n: int = 8):
        g = torch.Generator().manual_seed(0)
        self.images = torch.randn(n, 3, 16, 16, generator=g)
        self.labels = torch.arange(n) % 3

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return dict(inputs=self.images[i], data_samples=self.labels[i])


class EpochRecorder(Hook):
    def __init__(self):
        self.epochs = []

    def before_train_epoch(self, runner):
        self.epochs.append(runner.epoch)


def toy_runner(work_dir, max_epochs, name, recorder, resume=False, load_from=None) -> Runner:
    torch.manual_seed(0)
    model = ResNetClassifier(dict(depth=18, width=0.125, stem_kernel=3, stem_stride=1,
                                  stem_pool=False), num_classes=3)
    return Runner(
        model=model, work_dir=str(work_dir), experiment_name=name,
        train_dataloader=dict(dataset=ToyDataset(), batch_size=4, num_workers=0,
                              sampler=dict(type="DefaultSampler", shuffle=False),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=1e-4)),
        param_scheduler=dict(type="MultiStepLR", milestones=[1], gamma=0.1, by_epoch=True),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1),
                           logger=dict(type="LoggerHook", interval=1)),
        custom_hooks=[recorder], resume=resume, load_from=load_from,
        default_scope=None, randomness=dict(seed=0), log_level="WARNING")


def test_runner_resume_with_weights_only(tmp_path, restore_safe_globals):
    first = EpochRecorder()
    runner = toy_runner(tmp_path, 2, "first", first)
    runner.train()
    ckpt = tmp_path / "epoch_2.pth"
    assert first.epochs == [0, 1] and ckpt.is_file()
    with pytest.raises(pickle.UnpicklingError):      # what mmengine hits on torch >= 2.6
        torch.load(ckpt, weights_only=True)

    allow_mmengine_checkpoint_globals()
    second = EpochRecorder()
    resumed = toy_runner(tmp_path, 3, "second", second, resume=True, load_from=str(ckpt))
    resumed.train()
    assert second.epochs == [2]
    assert resumed.epoch == 3 and resumed.iter == 6
    assert resumed.optim_wrapper.get_lr()["lr"] == [pytest.approx(0.01)]   # scheduler resumed
    loss_history = resumed.message_hub.get_scalar("train/loss")
    assert len(loss_history.data[0]) == 6                                  # 4 old + 2 new
    assert loss_history.mean() > 0
    fresh = ResNetClassifier(dict(depth=18, width=0.125, stem_kernel=3, stem_stride=1,
                                  stem_pool=False), num_classes=3)
    load_checkpoint(fresh, str(ckpt), map_location="cpu", strict=True)   # the load_from path


def test_allowlist_still_rejects_other_globals(tmp_path, restore_safe_globals):
    allow_mmengine_checkpoint_globals()
    gadget = tmp_path / "gadget.pth"
    torch.save({"state_dict": {}, "meta": _Gadget()}, gadget)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(gadget)
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(str(gadget), map_location="cpu")   # mmengine's own loader


class _GetattrGadget:
    """Uses the allowlisted ``getattr`` name to reach something other than a statistic."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, "__init__"))


def test_getattr_is_restricted_to_history_buffer_statistics(tmp_path, restore_safe_globals):
    allow_mmengine_checkpoint_globals()
    path = tmp_path / "getattr.pth"
    torch.save({"meta": _GetattrGadget()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    ok = tmp_path / "ok.pth"
    buffer = HistoryBuffer([1.0, 2.0], [1, 1])
    torch.save({"buffer": buffer}, ok)
    assert torch.load(ok)["buffer"].mean() == 1.5


def test_scoped_allowlist(tmp_path, restore_safe_globals):
    path = tmp_path / "hub.pth"
    torch.save({"buffer": HistoryBuffer([3.0], [1])}, path)
    with torch.serialization.safe_globals(mmengine_checkpoint_globals()):
        assert torch.load(path)["buffer"].current() == 3.0
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)

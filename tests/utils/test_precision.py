"""Mixed precision (``ilsvrc_pipe/utils/precision.py``): bf16/fp16 inference on the CPU stays
close to fp32 and hands back float32, the ``precision`` section enters the fingerprints of the stages
that run models (and only theirs), CPU bf16 training steps run, fp16 training without a GPU is refused."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from ilsvrc_pipe.data.seeded import SeededDataset
from ilsvrc_pipe.engine.stage import DeclaredConfig, StageContext, UndeclaredConfigSection
from ilsvrc_pipe.models.backbone.fold_bn import fold_batch_norms
from ilsvrc_pipe.models.classification.classifier import ResNetClassifier
from ilsvrc_pipe.models.classification.view_modes import predict_modes
from ilsvrc_pipe.models.detection.c4 import C4FasterRCNN
from ilsvrc_pipe.models.detection.inference import DetectionMode, MemberView, detect
from ilsvrc_pipe.models.localization.per_class_rpn import PerClassRPN, propose_dense
from ilsvrc_pipe.models.localization.rcnn import RoIRCNN, refine_proposals
from ilsvrc_pipe.ops import box_iou
from ilsvrc_pipe.utils import precision
from ilsvrc_pipe.utils.errors import UserInputError

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs/mini/smoke.py"
TINY = dict(depth=18, width=0.25, stem_kernel=3, stem_stride=1, stem_pool=False)
HALF = ["bf16", "fp16"]


pytestmark = pytest.mark.usefixtures("single_thread")   # tests/conftest.py


def trained_like(model: torch.nn.Module) -> torch.nn.Module:
    """Eval mode with batch norms folded, as ``specs.load_weights`` gives models to the loops."""
    fold_batch_norms(model)
    return model.eval().to(memory_format=torch.channels_last)


def run(name, fn, *args, **kwargs):
    return precision.autocast_call("cpu", name, fn, *args, **kwargs)


# -- config ---------------------------------------------------------------------------------------
def test_section_defaults_and_bad_values():
    assert precision.read(None) == precision.read({}) == {"train": "fp32", "test": "fp32"}
    assert precision.read({"test": "bf16"}) == {"train": "fp32", "test": "bf16"}
    assert precision.is_default(None) and precision.is_default({"train": "fp32"})
    assert not precision.is_default({"test": "fp16"}) and not precision.is_default({"test": "fp64"})
    with pytest.raises(UserInputError, match=r"precision.test='fp64': expected one of fp32, bf16, fp16"):
        precision.read({"test": "fp64"})
    with pytest.raises(UserInputError, match="unknown key"):
        precision.read({"inference": "bf16"})
    with pytest.raises(UserInputError, match=r"precision='bf16': expected precision = dict\(train="):
        precision.read("bf16")
    assert Config.fromfile(str(SMOKE)).precision == {"train": "fp32", "test": "fp32"}   # configs/_base_


def test_autocast_this_torch_cannot_do_is_refused_not_run_in_fp32(monkeypatch):
    """Torch warns and disables autocast for a dtype a device lacks (fp16 on an older torch's CPU)."""
    import warnings

    def disabled(device_type, dtype):
        warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling autocast.")
        return type("Autocast", (), {"_enabled": False})()

    monkeypatch.setattr(torch, "autocast", disabled)
    with pytest.raises(UserInputError, match=r"precision 'fp16': torch .* cannot autocast to fp16 on the CPU"):
        precision.autocast("cpu", "fp16")
    with pytest.raises(UserInputError, match="expected one of fp32, bf16, fp16"):
        precision.autocast("cpu", "fp64")


# -- inference ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", HALF)
def test_classifier_modes_close_to_fp32_and_float32_out(name):
    torch.manual_seed(0)
    model = trained_like(ResNetClassifier(TINY, num_classes=7))
    images = [torch.randn(3, 48, 64), torch.randn(3, 56, 40)]
    test = dict(scale=40, crop=32, dense_scales=[32, 48])
    ref = run("fp32", predict_modes, model, images, test)
    out = run(name, predict_modes, model, images, test)
    assert set(out) == {"center", "ten_crop", "dense"}
    for mode, probs in out.items():
        assert probs.dtype == torch.float32, mode
        torch.testing.assert_close(probs, ref[mode], atol=2e-2, rtol=0)
        torch.testing.assert_close(probs.sum(1), torch.ones(2), atol=1e-4, rtol=0)
    assert any(not torch.equal(out[m], ref[m]) for m in out), "no autocast happened: identical to fp32"


@pytest.mark.parametrize("name", HALF)
def test_rcnn_rescoring_close_to_fp32_and_float32_out(name):
    torch.manual_seed(0)
    model = trained_like(RoIRCNN(backbone=TINY, num_classes=3, crop_size=24))
    image = torch.randn(3, 90, 120)
    proposals = {0: torch.tensor([[5.0, 5.0, 60.0, 50.0], [30.0, 20.0, 110.0, 85.0]]),
                 2: torch.tensor([[0.0, 0.0, 119.0, 89.0], [40.0, 10.0, 70.0, 80.0], [5.0, 5.0, 60.0, 50.0]])}
    ref = run("fp32", refine_proposals, model, image, proposals, sort=False)
    out = run(name, refine_proposals, model, image, proposals, sort=False)
    for c in proposals:
        assert out[c].boxes.dtype == out[c].scores.dtype == torch.float32
        torch.testing.assert_close(out[c].scores, ref[c].scores, atol=2e-2, rtol=0)
        torch.testing.assert_close(out[c].boxes, ref[c].boxes, atol=1.0, rtol=0)   # pixels
    assert not all(torch.equal(out[c].boxes, ref[c].boxes) for c in proposals), "no autocast happened"


@pytest.mark.parametrize("name", HALF)
def test_rpn_proposals_float32_and_best_box_kept(name):
    torch.manual_seed(0)
    model = trained_like(PerClassRPN(backbone=dict(TINY, out_indices=(3,)), num_classes=4, anchor_scales=(16, 32),
                                     anchor_ratios=(0.5, 1.0, 2.0), head_channels=8, top_k=20))
    image = torch.randn(3, 60, 80)
    ref = run("fp32", propose_dense, model, image, [1, 3], scales=(48, 64))
    out = run(name, propose_dense, model, image, [1, 3], scales=(48, 64))
    for c in (1, 3):
        assert out[c].boxes.dtype == out[c].scores.dtype == torch.float32 and len(out[c].scores) > 0
        torch.testing.assert_close(out[c].scores[:5], ref[c].scores[:5], atol=1e-2, rtol=0)
        # anchors and decoding in float32: the best box is the fp32 one (bf16 anchors move it by pixels)
        assert box_iou(out[c].boxes[:1], ref[c].boxes[:1]).item() > 0.8


@pytest.mark.parametrize("name", HALF)
def test_detector_rows_float32_out(name):
    torch.manual_seed(0)
    model = trained_like(C4FasterRCNN(dict(depth=18, width=0.125), num_classes=3, anchor_sizes=(16, 32),
                                      anchor_ratios=(1.0,), roi_output_size=4,
                                      rpn_post_nms_top_n=dict(training=20, testing=12)))
    torch.manual_seed(5)
    pyramid = [torch.randn(3, 40, 56), torch.randn(3, 64, 90)]
    mode = DetectionMode(refine=True, multiscale=True, target_size=24, score_threshold=0.0)
    ref = run("fp32", detect, [MemberView(model, pyramid, 1)], mode)
    out = run(name, detect, [MemberView(model, pyramid, 1)], mode)
    assert out.boxes.dtype == out.scores.dtype == torch.float32 and out.labels.dtype == torch.int64
    assert len(out.scores) > 0 and (out.boxes[:, 2] <= 90).all() and (out.boxes[:, 3] <= 64).all()
    # proposals stay float32 (the RPN runs outside autocast); the best detection scores agree
    assert run(name, lambda: MemberView(model, pyramid, 1).proposals().dtype) == torch.float32
    assert abs(out.scores.max().item() - ref.scores.max().item()) < 2e-2


def test_stage_infer_runs_in_the_configured_precision():
    def probe():
        return {"on": torch.is_autocast_enabled("cpu"), "x": torch.ones(2, dtype=torch.bfloat16),
                "labels": torch.arange(2)}

    def ctx(cfg: dict, reads=("cls", "precision")) -> StageContext:
        return StageContext(DeclaredConfig(Config(cfg), reads, "cls"), Path("."), None, "cls", logging.getLogger())

    out = ctx({"cls": {}, "precision": {"train": "fp32", "test": "bf16"}}).infer(probe)
    assert out["on"] and out["x"].dtype == torch.float32 and out["labels"].dtype == torch.int64
    assert ctx({"cls": {}}).infer(probe)["on"] is False            # no section: fp32
    with pytest.raises(UndeclaredConfigSection):
        ctx({"cls": {}, "precision": {"test": "bf16"}}, reads=("cls",)).infer(probe)


# -- fingerprints ---------------------------------------------------------------------------------
def fingerprints(tmp_path, **section) -> dict:
    from ilsvrc_pipe.engine.pipeline import Pipeline
    from ilsvrc_pipe.stages import default_stages

    cfg = Config.fromfile(str(SMOKE))
    if section:
        cfg.merge_from_dict({f"precision.{k}": v for k, v in section.items()})
    pipe = Pipeline(cfg, tmp_path / "root", tmp_path / "work", default_stages())
    return {name: pipe.fingerprint(name)["config"] for name in pipe.order}


def test_precision_enters_the_fingerprints_of_the_model_stages(tmp_path):
    base = fingerprints(tmp_path)
    for key in ("train", "test"):
        for value in HALF:
            changed = {n for n, fp in fingerprints(tmp_path, **{key: value}).items() if fp != base[n]}
            assert changed == {"cls", "rpn", "rcnn", "det", "eval"}, (key, value, changed)


def test_default_precision_keeps_the_fingerprints_of_older_runs(tmp_path):
    """fp32 everywhere hashes as a config without the section did, so existing caches stay valid."""
    from ilsvrc_pipe.engine.pipeline import Pipeline
    from ilsvrc_pipe.stages import default_stages

    cfg = Config.fromfile(str(SMOKE))
    old = Config({k: v for k, v in cfg.to_dict().items() if k != "precision"})
    new, before = (Pipeline(c, tmp_path / "root", tmp_path / "work", default_stages()) for c in (cfg, old))
    assert all(new.fingerprint(n) == before.fingerprint(n) for n in new.order)


def test_changing_precision_reruns_a_finished_stage(tmp_path):
    from ilsvrc_pipe.engine.pipeline import Pipeline
    from ilsvrc_pipe.stages import default_stages

    cfg = Config.fromfile(str(SMOKE))
    pipe = Pipeline(cfg, tmp_path / "root", tmp_path / "work", default_stages())
    for name in ("data", "cls"):   # as if both had finished under fp32
        pipe.manifest_path(name).parent.mkdir(parents=True)
        pipe.manifest_path(name).write_text(json.dumps({"fingerprint": pipe.fingerprint(name), "run_id": name}))
    assert pipe.plan(["cls"]) == []
    cfg.merge_from_dict({"precision.test": "bf16"})
    assert Pipeline(cfg, tmp_path / "root", tmp_path / "work", default_stages()).plan(["cls"]) == ["cls"]


# -- training -------------------------------------------------------------------------------------
class TinyImages(SeededDataset):
    def __init__(self, n: int = 8):
        gen = torch.Generator().manual_seed(0)
        self.images, self.labels = torch.randn(n, 3, 32, 32, generator=gen), torch.arange(n) % 3

    def __len__(self) -> int:
        return len(self.images)

    def get(self, i: int) -> dict:
        return {"inputs": self.images[i], "data_samples": int(self.labels[i])}


def tiny_spec(name: str) -> dict:
    from ilsvrc_pipe.engine.training import sgd_schedule

    loader = dict(dataset=TinyImages(), sampler=dict(type="SeededSampler", shuffle=True, seed=0),
                  collate_fn=dict(type="default_collate"), batch_size=4, num_workers=0)
    model = dict(type="ResNetClassifier", backbone=dict(TINY, width=0.125), num_classes=3)
    return dict(model=model, train_dataloader=loader,
                **sgd_schedule(dict(lr=0.01, milestones=[5], max_epochs=2), precision=name))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU wrapper; a GPU takes mmengine's AmpOptimWrapper")
def test_cpu_bf16_training_steps_run(tmp_path):
    from ilsvrc_pipe.engine.training import build_runner

    runner = build_runner(tiny_spec("bf16"), tmp_path / "train", resume=False, log_interval=1)
    model = runner.model
    seen = []
    model.fc.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    before = model.fc.weight.detach().clone()
    runner.train()
    assert type(runner.optim_wrapper).__name__ == "CPUAutocastOptimWrapper"
    assert seen and set(seen) == {torch.bfloat16}, seen          # the forward ran under bf16 autocast
    assert model.fc.weight.dtype == torch.float32                  # weights stay float32 ...
    assert not torch.equal(model.fc.weight.detach(), before)       # ... and were updated
    assert torch.isfinite(model.fc.weight).all()
    assert (tmp_path / "train/epoch_2.pth").is_file()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_fp16_training_on_cpu_is_a_user_error(tmp_path):
    from ilsvrc_pipe.engine.training import build_runner

    with pytest.raises(UserInputError, match=r"precision.train='fp16' needs a CUDA GPU"):
        build_runner(tiny_spec("fp16"), tmp_path / "train", resume=False)
    assert precision.optim_wrapper_cfg("fp32", {"type": "SGD"})["type"] == "OptimWrapper"

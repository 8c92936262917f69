"""The batch rule: every ``batch_size`` is global (summed over the processes), checked before any work
on the paper config, and a learning rate given at ``base_batch_size`` is scaled linearly."""
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.config import Config

from ilsvrc_pipe.data.seeded import SeededDataset
from ilsvrc_pipe.engine.batch_rule import check_batch_sizes
from ilsvrc_pipe.utils.errors import UserInputError

REPO_ROOT = Path(__file__).resolve().parents[2]
PAPER_CONFIG = REPO_ROOT / "configs/ilsvrc2015/ilsvrc2015.py"
TINY = dict(depth=18, width=0.125, stem_kernel=3, stem_stride=1, stem_pool=False)


@pytest.fixture
def paper_cfg() -> Config:
    return Config.fromfile(str(PAPER_CONFIG))


def test_paper_config_batches_are_the_papers_global_batches(paper_cfg):
    # 256 images (cls, rpn), 256 regions (rcnn), 16 images (det: 2 per GPU on 8 GPUs)
    expected = {"cls": 256, "rpn": 256, "rcnn": 256, "det": 16}
    assert {s: paper_cfg[s].train.batch_size for s in expected} == expected
    # each stage's lr is the rate at the paper's batch
    assert {s: paper_cfg[s].train.base_batch_size for s in expected} == expected


@pytest.mark.parametrize("world", [1, 2, 8])
def test_paper_config_splits_over_1_2_and_8_processes(paper_cfg, world):
    check_batch_sizes(paper_cfg, world)


def test_a_batch_that_does_not_split_names_its_key(paper_cfg):
    with pytest.raises(UserInputError, match=r"^det\.train\.batch_size=16 does not split over 3 processes: "):
        check_batch_sizes(paper_cfg, 3, stages=("det",))
    with pytest.raises(UserInputError, match=r"^cls\.train\.batch_size=256 does not split over 3 processes"):
        check_batch_sizes(paper_cfg, 3)        # the first trained stage that fails
    check_batch_sizes(paper_cfg, 3, stages=("data", "loc", "eval"))   # stages that train nothing


def test_a_member_override_is_checked_under_its_own_key(paper_cfg):
    paper_cfg.cls.models[1]["train"] = dict(batch_size=12)
    check_batch_sizes(paper_cfg, 4)
    with pytest.raises(UserInputError, match=r"^cls\.models\.1\.train\.batch_size=12 does not split over 8 processes"):
        check_batch_sizes(paper_cfg, 8)
    paper_cfg.det.models[2]["train"] = dict(batch_size=10)
    with pytest.raises(UserInputError, match=r"^det\.models\.2\.train\.batch_size=10 does not split over 4"):
        check_batch_sizes(paper_cfg, 4, stages=("det",))


@pytest.mark.parametrize("key, value", [("batch_size", 0), ("batch_size", "256"), ("batch_size", 2.5),
                                        ("batch_size", True), ("base_batch_size", -8), ("base_batch_size", 1.5)])
def test_batch_sizes_must_be_positive_integers(paper_cfg, key, value):
    paper_cfg.rpn.train[key] = value
    with pytest.raises(UserInputError, match=rf"^rpn\.train\.{key}={value!r}: expected a positive integer"):
        check_batch_sizes(paper_cfg, 1)


def test_a_missing_batch_size_is_named(paper_cfg):
    del paper_cfg.rcnn.train["batch_size"]
    with pytest.raises(UserInputError, match=r"^rcnn\.train\.batch_size: missing"):
        check_batch_sizes(paper_cfg, 1)


def test_runtime_split_error_is_a_user_error(monkeypatch):
    from ilsvrc_pipe.engine import training

    monkeypatch.setattr(training, "world_size", lambda: 3)
    with pytest.raises(UserInputError, match=r"^batch_size=16 does not split over 3 processes"):
        training.per_rank_loader(dict(batch_size=16))
    assert training.per_rank_loader(dict(batch_size=18)) == dict(batch_size=6)


# -- linear scaling of the learning rate ------------------------------------------------------------
def test_sgd_schedule_scales_only_with_a_base_batch():
    from ilsvrc_pipe.engine.training import sgd_schedule

    plain = sgd_schedule(dict(lr=0.1, milestones=(3,), max_epochs=4, batch_size=32))
    assert "auto_scale_lr" not in plain and plain["optimizer"]["lr"] == 0.1   # mini configs: lr as given
    scaled = sgd_schedule(dict(lr=0.1, milestones=(3,), max_epochs=4, batch_size=32, base_batch_size=256))
    assert scaled["auto_scale_lr"] == dict(enable=True, base_batch_size=256)
    assert scaled["optimizer"]["lr"] == 0.1      # the Runner scales it by the global batch it trains with
    with pytest.raises(UserInputError, match=r"train\.base_batch_size=0: expected a positive integer"):
        sgd_schedule(dict(lr=0.1, milestones=(3,), max_epochs=4, base_batch_size=0))


class TinyImages(SeededDataset):
    def __init__(self, n: int = 8):
        gen = torch.Generator().manual_seed(0)
        self.images, self.labels = torch.randn(n, 3, 16, 16, generator=gen), torch.arange(n) % 3

    def __len__(self) -> int:
        return len(self.images)

    def get(self, i: int) -> dict:
        return {"inputs": self.images[i], "data_samples": int(self.labels[i])}


def tiny_spec(batch: int, **train) -> dict:
    from ilsvrc_pipe.engine.training import sgd_schedule

    loader = dict(dataset=TinyImages(), sampler=dict(type="SeededSampler", shuffle=True, seed=0),
                  collate_fn=dict(type="default_collate"), batch_size=batch, num_workers=0)
    model = dict(type="ResNetClassifier", backbone=TINY, num_classes=3)
    return dict(model=model, train_dataloader=loader,
                **sgd_schedule(dict(lr=0.01, milestones=[5], max_epochs=1, **train)))


def _lr_after_training(work_dir: Path, spec: dict) -> float:
    from ilsvrc_pipe.engine.training import build_runner

    runner = build_runner(spec, work_dir, resume=False, log_interval=1)
    runner.train()
    return runner.optim_wrapper.optimizer.param_groups[0]["lr"]


def _log_text(work_dir: Path) -> str:
    return "\n".join(p.read_text() for p in Path(work_dir).rglob("*.log"))


def test_runner_scales_lr_by_global_batch_over_base_batch(tmp_path, single_thread):
    # (the factor's log line is checked in the 2-process test below: in this process an earlier test's
    # mmengine logger of the same second may own the log file)
    assert _lr_after_training(tmp_path / "plain", tiny_spec(4)) == pytest.approx(0.01)
    assert _lr_after_training(tmp_path / "scaled", tiny_spec(4, base_batch_size=8)) == pytest.approx(0.005)


def _scaled_lr_worker(rank: int, init: str, out: str) -> None:
    os.environ.update(LOCAL_RANK=str(rank), RANK=str(rank), WORLD_SIZE="2")   # as torchrun sets them
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        spec = tiny_spec(4, base_batch_size=8)    # global batch 4: 2 per process
        lr = _lr_after_training(Path(out) / "train", spec)
        assert lr == pytest.approx(0.005), lr     # scaled by the global batch, not the per-process one
    finally:
        dist.destroy_process_group()


def test_two_processes_scale_lr_by_the_global_batch(tmp_path):
    mp.spawn(_scaled_lr_worker, args=(f"file://{tmp_path / 'rendezvous'}", str(tmp_path)), nprocs=2, join=True)
    log = _log_text(tmp_path / "train")
    assert "current batch size is 4" in log and log.count("Scaling the original LR by 0.5") == 1

"""Training through mmengine's Runner: checkpoints, resume, logs, ETA and DDP come from it.

``build_runner`` turns one training spec (model, dataset, schedule, precision) into a Runner; the
stages and ``tools/train.py`` (also under ``torchrun`` for DDP) share it. A spec's ``precision``
(``fp32``, ``bf16``, ``fp16``; the config's ``precision.train``) picks the optim wrapper
(``precision.optim_wrapper_cfg``: mmengine's ``AmpOptimWrapper`` on a GPU, a bf16 autocast wrapper
on the CPU). A spec's ``train_dataloader.batch_size`` is global, split over the processes
(``batch_rule.py``); with ``base_batch_size`` in the train section the learning rate scales
linearly with it. Determinism, cuDNN autotuning and the process-group backend follow the device
(``runtime_settings.py``), and DDP searches for unused parameters only in models that declare some.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import MMDistributedDataParallel, is_model_wrapper
from mmengine.registry import HOOKS, MODEL_WRAPPERS
from mmengine.runner import Runner
from mmengine.runner.utils import set_random_seed

from ..data.seeded import sample_seed  # also registers SeededSampler
from ..registry import MODELS
from ..utils.checkpoint import allow_mmengine_checkpoint_globals
from ..utils.distributed import is_distributed, world_size
from ..utils.precision import optim_wrapper_cfg
from .batch_rule import positive_int, split_error
from .runtime_settings import apply_runtime_settings, requested_determinism, runtime_settings


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Seed torch's generator before every training iteration from (seed, epoch, iteration).

    What a model draws inside its forward (the RPN's and R-CNN's anchor and RoI samplers) then
    depends on where training is, not on what was drawn before: a training resumed from an epoch
    checkpoint draws what an uninterrupted one draws (the data side is ``data/seeded.py``).
    """

    priority = "VERY_HIGH"

    def __init__(self, seed: int = 0):
        self.seed = int(seed)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        torch.manual_seed(sample_seed(self.seed, runner.epoch, batch_idx))


@MODEL_WRAPPERS.register_module()
class DeviceAwareDDP(MMDistributedDataParallel):
    """mmengine's DDP wrapper, minus ``device_ids`` on CPU (gloo), which torch's DDP rejects there."""

    def __init__(self, module, device_ids=None, **kwargs):
        on_cuda = torch.cuda.is_available() and next(module.parameters()).is_cuda
        super().__init__(module=module, device_ids=device_ids if on_cuda else None, **kwargs)


def sgd_schedule(train: dict, precision: str = "fp32") -> dict:
    """The optimisation part of a spec: SGD (momentum 0.9), lr / 10 at each milestone epoch, in
    ``precision`` (the stages set the config's ``precision.train``, ``StageContext.train``).

    With ``base_batch_size``, ``lr`` is the rate at that global batch: mmengine's Runner
    (``auto_scale_lr``) trains at ``lr * global batch / base_batch_size`` and logs the factor once;
    its global batch is the processes' batches summed, the configured ``batch_size``. Without it
    the lr is used as given.
    """
    spec = dict(precision=precision,
        optimizer=dict(type="SGD", lr=train["lr"], momentum=0.9, weight_decay=train.get("weight_decay", 1e-4)),
        param_scheduler=[dict(type="MultiStepLR", by_epoch=True, milestones=list(train["milestones"]), gamma=0.1)],
        max_epochs=train["max_epochs"],
        channels_last=train.get("channels_last", True),
    )
    if train.get("base_batch_size") is not None:
        base = positive_int(train["base_batch_size"], "train.base_batch_size")
        spec["auto_scale_lr"] = dict(enable=True, base_batch_size=base)
    return spec


def per_rank_loader(loader: dict) -> dict:
    """The loader config of one rank: the configured batch is the global one, split evenly, so a
    run on N processes sees the batches (and, by ``SeededSampler``, the augmented samples) of one."""
    world = world_size()
    batch = positive_int(int(loader["batch_size"]), "batch_size")
    if batch % world:
        raise split_error("batch_size", batch, world)
    return {**loader, "batch_size": batch // world}


def latest_checkpoint(work_dir: str | os.PathLike) -> Path | None:
    """The checkpoint mmengine's ``last_checkpoint`` file points at, if it exists."""
    marker = Path(work_dir) / "last_checkpoint"
    if not marker.is_file():
        return None
    path = Path(marker.read_text().strip())
    return path if path.is_file() else None


def searches_unused_parameters(model: torch.nn.Module) -> bool:
    """Whether DDP must look for unused parameters after each backward (``find_unused_parameters``):
    for models that declare some (``model.unused_parameters()``, checked against a training step by
    ``tests/models/test_unused_parameters.py``) and models that declare nothing. The search costs a
    traversal of the autograd graph every iteration, so models without unused parameters skip it."""
    declared = getattr(model, "unused_parameters", None)
    return True if declared is None else bool(declared())


def build_runner(spec: dict, work_dir: str | os.PathLike, launcher: str = "none", resume: bool = True,
                 seed: int = 0, log_interval: int = 10, deterministic: bool | None = None) -> Runner:
    """A Runner for ``spec`` = dict(model, train_dataloader, optimizer, param_scheduler, max_epochs, ...).

    ``resume=True`` picks up the latest checkpoint of ``work_dir`` (an interrupted training goes on
    where it stopped); checkpoints are loaded with ``weights_only=True`` and an allowlist.
    ``deterministic`` None takes the tools' ``--deterministic`` (``runtime_settings.request_determinism``),
    else the device's default: deterministic on the CPU, cudnn.benchmark on CUDA.
    """
    allow_mmengine_checkpoint_globals()
    on_cuda = torch.cuda.is_available()   # the Runner trains on the GPU whenever torch sees one
    settings = runtime_settings(on_cuda, requested_determinism() if deterministic is None else deterministic)
    if launcher == "none" and is_distributed():
        launcher = "pytorch"   # a stage under torchrun: every rank trains its share (DDP)
    if launcher != "none" and not on_cuda and not torch.distributed.is_initialized():
        # mmengine's init_dist calls torch.cuda.set_device; on CPU start the gloo group ourselves.
        torch.distributed.init_process_group(backend=settings["dist_backend"])
    spec = copy.deepcopy(spec)
    if launcher != "none":
        spec["train_dataloader"] = per_rank_loader(spec["train_dataloader"])
    hooks = [dict(type="IterationSeedHook", seed=seed)] + spec.pop("custom_hooks", [])
    model = spec.pop("model")
    if isinstance(model, dict):   # built here: the DDP set-up reads its unused-parameter declaration
        set_random_seed(seed, deterministic=settings["deterministic"])   # what the Runner does before it builds one
        model = MODELS.build(model)
    if spec.pop("channels_last", True):
        # weights in channels_last (measured faster for CPU convolutions here), before the Runner
        # wraps the model in DDP: its gradient buckets take the layout of the parameters it sees
        model.to(memory_format=torch.channels_last)
    max_epochs = int(spec.pop("max_epochs"))
    runner = Runner(
        model=model,
        work_dir=str(work_dir),
        train_dataloader=spec.pop("train_dataloader"),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=optim_wrapper_cfg(spec.pop("precision", "fp32"), spec.pop("optimizer"),
                                        spec.pop("clip_grad", None)),
        param_scheduler=spec.pop("param_scheduler", None),
        default_hooks=dict(
            timer=dict(type="IterTimerHook"),
            logger=dict(type="LoggerHook", interval=log_interval),
            param_scheduler=dict(type="ParamSchedulerHook"),
            checkpoint=dict(type="CheckpointHook", interval=1, max_keep_ckpts=2, save_last=True),
            sampler_seed=dict(type="DistSamplerSeedHook"),
        ),
        custom_hooks=hooks,
        launcher=launcher,
        # Runner reads the DDP wrapper from its `cfg`, not from an argument
        cfg=Config(dict(model_wrapper_cfg=dict(type="DeviceAwareDDP", broadcast_buffers=False,
                                               find_unused_parameters=searches_unused_parameters(model)))),
        env_cfg=dict(cudnn_benchmark=settings["cudnn_benchmark"],
                     dist_cfg=dict(backend=spec.pop("dist_backend", settings["dist_backend"]))),
        randomness=dict(seed=seed, deterministic=settings["deterministic"]),
        resume=resume and latest_checkpoint(work_dir) is not None,
        default_scope="ilsvrc_pipe",
        log_level="INFO",
        **spec,
    )
    apply_runtime_settings(settings)   # after the Runner's randomness set-up, which knows no warn_only
    return runner


def train_to_final(spec: dict, work_dir: str | os.PathLike, final: str | os.PathLike, seed: int = 0,
                   log_interval: int = 10, logger=None, deterministic: bool | None = None) -> Path:
    """Train with :func:`build_runner` in ``work_dir`` unless ``final`` exists; return ``final``.

    ``final`` (plain weights, written atomically after the last epoch) marks a finished training;
    until then a re-run resumes from the Runner's latest checkpoint, and since every sample's
    augmentation is drawn from (seed, epoch, position) (``data/seeded.py``), a resumed training
    ends with the weights an uninterrupted one would have. ``deterministic`` is :func:`build_runner`'s.
    """
    from ..utils.io_utils import atomic_path

    final = Path(final)
    if final.is_file():
        if logger is not None:
            logger.info("%s already trained (%s)", Path(work_dir).name, final)
        return final
    runner = build_runner(spec, work_dir, seed=seed, log_interval=log_interval, deterministic=deterministic)
    runner.train()
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    with atomic_path(final) as tmp:
        torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, tmp)
    return final

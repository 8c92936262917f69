"""What every stage is: a named step with the stages it reads and the config sections it reads.

A stage is a class registered in :data:`STAGES` (an mmengine ``Registry``); the pipeline
(``ilsvrc_pipe/engine/pipeline.py``) is given instances and runs them in dependency order. The stages
themselves live in ``ilsvrc_pipe/stages/``, which only the tools import (``default_stages``). No stage
imports another stage: what two stages share lives a floor below (``ilsvrc_pipe/artifacts/paths.py``,
``ilsvrc_pipe/artifacts/tables.py``, ``ilsvrc_pipe/engine/specs.py``, ``ilsvrc_pipe/engine/rows.py``).

A stage sees only the config sections it declares in ``reads``: reading another one raises, so the
fingerprint (a hash of exactly those sections) can never miss a setting the stage used. A stage that
runs models declares ``precision`` (``ilsvrc_pipe/utils/precision.py``): its trainings (``ctx.train``) and
inference calls (``ctx.infer``) take their mixed precision from it, and changing it re-runs the stage.
"""
from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import pandas as pd
import torch
from mmengine.config import Config
from mmengine.registry import Registry

from ..artifacts.parts import PartedTable
from ..artifacts.paths import Artifacts
from ..config.options import config_flag
from ..utils import precision as mixed_precision
from ..utils.distributed import is_distributed
from .chunked_inference import RunBatch, run_in_chunks
from .runtime_settings import requested_determinism
from .side_by_side import MemberTraining, member_threads, train_side_by_side
from .training import train_to_final

STAGES = Registry("stage", scope="ilsvrc_pipe")


def register_stage(cls):
    """Class decorator: add a :class:`Stage` subclass to :data:`STAGES` under its ``name``."""
    STAGES.register_module(name=cls.name, module=cls)
    return cls


class UndeclaredConfigSection(KeyError):
    """A stage read a config section it did not declare in ``reads``."""


class DeclaredConfig:
    """A read-only view of the config that hands out only the sections a stage declared."""

    def __init__(self, cfg: Config, sections: tuple[str, ...], stage: str):
        self._cfg, self._sections, self._stage = cfg, tuple(sections), stage

    def _check(self, name: str) -> None:
        if name not in self._sections:
            raise UndeclaredConfigSection(
                f"stage {self._stage!r} reads config section {name!r} without declaring it "
                f"(declared: {list(self._sections)}); add it to the stage's `reads`")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        self._check(name)
        return self._cfg.get(name, {})

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def get(self, name: str, default: Any = None) -> Any:
        self._check(name)
        return self._cfg.get(name, default)


@dataclass
class StageContext:
    """What a stage body gets: the config sections it declared, the artifact map, a logger."""

    cfg: DeclaredConfig
    data_root: Path
    artifacts: Artifacts
    stage: str
    logger: logging.Logger
    force: bool = False
    device: torch.device = torch.device("cpu")   # where inference runs (``device.py``)

    @property
    def work_dir(self) -> Path:
        return self.artifacts.work_dir

    @property
    def out_dir(self) -> Path:
        d = self.artifacts.stage_dir(self.stage)
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def section(self) -> dict:
        """This stage's own config section."""
        return dict(self.cfg.get(self.stage, {}) or {})

    @property
    def precision(self) -> dict[str, str]:
        """``{"train": ..., "test": ...}`` of the config's ``precision`` section (the stage must declare it)."""
        return mixed_precision.read(self.cfg.get("precision", None))

    def infer(self, fn, /, *args, **kwargs):
        """``fn(*args, **kwargs)``, a model call of an inference loop, in the configured test precision
        on this stage's device; floating outputs come back as float32 (``precision.autocast_call``)."""
        return mixed_precision.autocast_call(self.device, self.precision["test"], fn, *args, **kwargs)

    def infer_in_chunks(self, tables: Mapping[str, Path], empty: Mapping[str, pd.DataFrame], n_items: int,
                        run_batch: RunBatch, dataset=None, batch_size: int = 1, desc: str = "") -> None:
        """The stages' one inference loop (``chunked_inference.run_in_chunks``) over ``n_items`` items:
        chunks of the section's ``test.chunk_images`` items (default 1000) shared out among the ranks,
        decoded by ``test.num_workers`` loader workers (default 0: in this process), each finished
        chunk written as one part of every result table in ``tables`` (``artifacts/parts.py``)."""
        test = dict(self.section.get("test", {}) or {})
        run_in_chunks({name: PartedTable(path) for name, path in tables.items()}, empty, n_items, run_batch,
                      dataset, chunk_items=int(test.get("chunk_images", 1000)), batch_size=batch_size,
                      num_workers=int(test.get("num_workers", 0)), desc=desc)

    def _num_threads(self) -> int:
        return int(self.section.get("num_threads", torch.get_num_threads()))

    def _training(self, model: str, spec: dict, seed: int) -> MemberTraining:
        """What one training of ``model`` needs: its spec in the config's ``precision.train``, its
        Runner work dir and final weights, the section's ``log_interval``, the tool's determinism."""
        return MemberTraining(model, {**spec, "precision": self.precision["train"]},
                              self.artifacts.train_dir(self.stage, model), self.artifacts.final_weights(self.stage, model),
                              seed=seed, log_interval=int(self.section.get("log_interval", 10)),
                              deterministic=requested_determinism())

    def train(self, model: str, spec: dict, seed: int) -> Path:
        """Train one model of this stage through mmengine's Runner (resuming an interrupted training)
        unless its final weights exist; returns them. The thread count is the section's ``num_threads``,
        the precision the config's ``precision.train``."""
        torch.set_num_threads(self._num_threads())
        job = self._training(model, spec, seed)
        return train_to_final(job.spec, job.work_dir, job.final, seed=job.seed, log_interval=job.log_interval,
                              logger=self.logger, deterministic=job.deterministic)

    def train_members(self, trainings: list[tuple[str, dict, int]]) -> list[Path]:
        """Train the stage's members, ``(name, spec, seed)`` each, and return their final weights in
        order. With the section's ``side_by_side`` on a CPU-only run in one process, all at once, each
        in its own process with ``num_threads // len(trainings)`` threads (``side_by_side.py``); else
        one after another through :meth:`train`."""
        side_by_side = config_flag(self.section, "side_by_side", False, f"{self.stage}.") and len(trainings) > 1
        if side_by_side and (torch.cuda.is_available() or is_distributed()):
            self.logger.info("%s.side_by_side applies to CPU-only runs in one process: its members train one "
                             "after another", self.stage)
            side_by_side = False
        if not side_by_side:
            return [self.train(name, spec, seed) for name, spec, seed in trainings]
        return train_side_by_side([self._training(name, spec, seed) for name, spec, seed in trainings],
                                  member_threads(self._num_threads(), len(trainings)), self.logger)


class Stage(abc.ABC):
    """One step of the pipeline.

    ``requires``: the stages whose artifacts it reads (their run ids enter its fingerprint);
    ``reads``: the config sections it reads (hashed into its fingerprint; others are refused);
    ``submits``: whether it writes into the submission folder (that folder enters its fingerprint).
    A stage with no ``requires`` reads the data root, whose index files enter its fingerprint.
    Files it reads from elsewhere (e.g. pretrained weights) are named by :meth:`external_files`;
    their contents enter its fingerprint.
    """

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    reads: ClassVar[tuple[str, ...]] = ()
    submits: ClassVar[bool] = False

    def external_files(self, cfg: DeclaredConfig) -> dict[str, Path]:
        """Files outside the work dir and the data root that the stage reads, under labels that stay
        the same while the config does (the path may not: a cache dir moves with the machine). A file
        that is missing is a :class:`~ilsvrc_pipe.utils.errors.UserInputError` here, before any work."""
        return {}

    @abc.abstractmethod
    def run(self, ctx: StageContext) -> dict:
        """Read the inputs, write the artifacts; return the figures recorded in the manifest."""

    @property
    def doc(self) -> str:
        return (type(self).__doc__ or "").strip().split("\n")[0]

    def __repr__(self) -> str:
        return f"<stage {self.name} requires={list(self.requires)} reads={list(self.reads)}>"

"""Stage graph, artifact cache and resume.

Every stage is a function of (config, inputs on disk) -> outputs under ``work_dir/<stage>/``. When it
finishes, ``manifest.json`` records its fingerprint (hash of its config section, of the data root's
index files and of the run ids of the stages it reads) and its figures. A stage whose manifest
fingerprint matches is skipped; the manifest is written last and atomically, so an interrupted
stage is simply run again, and reuses whatever finished files it left (e.g. the checkpoints of a
training it resumes). Outputs made under another fingerprint (a changed config, data root or input
stage) are cleared before a stage runs, so a cached artifact never outlives the config it came from.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from mmengine.config import Config

from .io_utils import hash_files, hash_json, write_json_atomic

MANIFEST = "manifest.json"
STARTED = ".started.json"


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: its name, the stages whose artifacts it reads, and its body."""

    name: str
    requires: tuple[str, ...]
    run: Callable[["StageContext"], dict]
    doc: str = ""


_STAGES: dict[str, Stage] = {}


def register_stage(name: str, requires: tuple[str, ...] = ()):
    """Decorator: add a stage body to the pipeline (stages run in registration order)."""

    def wrap(fn):
        _STAGES[name] = Stage(name, tuple(requires), fn, (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return wrap


def registered_stages() -> dict[str, Stage]:
    from . import stages  # noqa: F401  (importing registers the stage bodies)

    return dict(_STAGES)


@dataclass
class StageContext:
    """What a stage body gets: its config section, where to read, where to write."""

    cfg: Config
    data_root: Path
    work_dir: Path
    stage: str
    logger: logging.Logger
    force: bool = False
    figures: dict = field(default_factory=dict)

    @property
    def out_dir(self) -> Path:
        d = self.work_dir / self.stage
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def section(self) -> dict:
        return dict(self.cfg.get(self.stage, {}) or {})

    def stage_dir(self, name: str) -> Path:
        """Output folder of another (finished) stage."""
        return self.work_dir / name


def data_root_fingerprint(root: Path) -> str:
    """Hash of a data root's index files (image lists, devkit files, Kaggle CSVs, generator marker).

    Image bytes are not hashed: a 1.28M-image tree is identified by its lists, as the devkit does.
    The root is resolved and files are named relative to it, so spelling the same root as a
    relative or an absolute path gives the same fingerprint.
    """
    root = Path(root).resolve()
    files = []
    for pattern in ("ILSVRC/ImageSets/**/*.txt", "ILSVRC/devkit/data/**/*", "ImageSets/**/*.txt",
                    "devkit/data/**/*", "LOC_*.csv", "LOC_*.txt", ".mini_ilsvrc.json"):
        files.extend(p for p in root.glob(pattern) if p.is_file())
    return hash_json({"root": str(root), "files": hash_files(files, relative_to=root)})


class Pipeline:
    """Runs stages in dependency order, skipping those whose manifest matches."""

    def __init__(self, cfg: Config, data_root: str | Path, work_dir: str | Path, logger: logging.Logger | None = None):
        self.cfg = cfg
        self.data_root = Path(data_root)
        self.work_dir = Path(work_dir)
        self.logger = logger or logging.getLogger("ilsvrc_pipe")
        self.stages = registered_stages()

    # -- manifests ------------------------------------------------------------------------------
    def manifest_path(self, name: str) -> Path:
        return self.work_dir / name / MANIFEST

    def read_manifest(self, name: str) -> dict | None:
        p = self.manifest_path(name)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:
            self.logger.warning("%s is unreadable; stage %s will run again", p, name)
            return None

    def fingerprint(self, name: str) -> dict:
        stage = self.stages[name]
        inputs = {dep: (self.read_manifest(dep) or {}).get("run_id") for dep in stage.requires}
        if not stage.requires:
            inputs["data_root"] = data_root_fingerprint(self.data_root)
        return {"config": hash_json({"stage": self.cfg.get(name, {}), "data": self.cfg.get("data", {})}),
                "inputs": inputs}

    def is_done(self, name: str) -> bool:
        m = self.read_manifest(name)
        return bool(m) and m.get("fingerprint") == self.fingerprint(name)

    # -- planning and running -------------------------------------------------------------------
    def plan(self, targets: list[str], force: bool = False) -> list[str]:
        """Stages to run, in order: the targets (unless done) and what they need that is missing."""
        unknown = [t for t in targets if t not in self.stages]
        if unknown:
            raise KeyError(f"unknown stage(s) {unknown}; known: {list(self.stages)}")
        order = list(self.stages)
        todo: set[str] = set()

        def need(name: str, explicit: bool):
            for dep in self.stages[name].requires:
                need(dep, False)
            if (explicit and force) or dep_changed(name) or not self.is_done(name):
                todo.add(name)

        def dep_changed(name: str) -> bool:
            return any(d in todo for d in self.stages[name].requires)

        for t in targets:
            need(t, True)
        return [s for s in order if s in todo]

    def _prepare_out_dir(self, name: str, fingerprint: dict, force: bool) -> None:
        """Keep what an interrupted run of the same stage left (it resumes from it), and outputs of
        no recorded run (e.g. a classifier trained by ``tools/train.py`` under torchrun); clear
        outputs made under another fingerprint (config, data or inputs changed) or when forced."""
        out = self.work_dir / name
        started = out / STARTED
        previous = json.loads(started.read_text()) if started.is_file() else None
        if out.exists() and (force or (previous is not None and previous != fingerprint)):
            self.logger.info("stage %-5s: clearing %s (%s)", name, out,
                             "--force" if force else "made with another config or other inputs")
            shutil.rmtree(out)
        elif out.exists():
            self.logger.info("stage %-5s: resuming from the outputs an interrupted run left in %s", name, out)
        write_json_atomic(started, fingerprint)

    def run(self, targets: list[str], force: bool = False) -> dict[str, dict]:
        plan = self.plan(targets, force)
        skipped = [t for t in targets if t not in plan]
        for name in skipped:
            self.logger.info("stage %-5s up to date (manifest %s matches); --force redoes it", name, self.manifest_path(name))
        results = {}
        for name in plan:
            ctx = StageContext(self.cfg, self.data_root, self.work_dir, name, self.logger, force)
            fingerprint = self.fingerprint(name)
            self._prepare_out_dir(name, fingerprint, force)
            self.logger.info("stage %-5s starts", name)
            t0 = time.perf_counter()
            figures = self.stages[name].run(ctx) or {}
            seconds = time.perf_counter() - t0
            finished = _dt.datetime.now().isoformat(timespec="seconds")
            manifest = {"stage": name, "fingerprint": fingerprint, "run_id": hash_json([fingerprint, finished]),
                        "finished": finished, "seconds": round(seconds, 2), "figures": figures}
            write_json_atomic(self.manifest_path(name), manifest)
            self.logger.info("stage %-5s done in %.1f s", name, seconds)
            results[name] = manifest
        return results

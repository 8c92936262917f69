"""Runs a given set of stages in dependency order, with an exact cache and resume.

Every stage is a function of (the config sections it declares, the artifacts of the stages it
requires) -> artifacts under ``work_dir/<stage>/``. When it finishes, ``manifest.json`` records its
fingerprint (hash of every config section it reads, the run ids of its inputs, the data root's
index files for a stage that reads the root, the submission folder for one that writes there, the
sha256 of the files it reads from elsewhere, ``Stage.external_files``) and its figures. A stage
whose fingerprint matches is skipped; the manifest is written last and atomically, so an interrupted
stage is simply run again and reuses what finished files it left (e.g. the checkpoints of a training
it resumes). Outputs made under another fingerprint are cleared before a stage runs, so a cached
artifact never outlives the config it came from. A ``precision`` section asking for fp32 everywhere
(the default) is left out of the hash, so runs made before that section existed keep their caches;
bf16/fp16 in it re-runs the stages that read it.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import shutil
import time
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Iterable

import torch
from mmengine.config import Config

from ..artifacts.paths import Artifacts
from ..utils import precision
from ..utils.distributed import on_main
from ..utils.io_utils import hash_files, hash_json, write_json_atomic
from .progress import StageClock, last_timings
from .stage import DeclaredConfig, Stage, StageContext

STARTED = ".started.json"


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


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks (a 170 MB weight file takes about 0.5 s)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def config_hash(cfg: Config, reads: Iterable[str]) -> str:
    """The fingerprint's hash of the config sections ``reads`` (a stage's): what a manifest records
    as ``fingerprint.config``."""
    sections = {s: cfg.get(s, None) for s in sorted(set(reads))}
    if "precision" in sections and precision.is_default(sections["precision"]):
        del sections["precision"]   # fp32: the hash of a run made before the section existed
    return hash_json(sections)


def topological_order(stages: dict[str, Stage]) -> list[str]:
    """Stage names so that each comes after every stage it requires (ties keep the given order)."""
    for s in stages.values():
        missing = [r for r in s.requires if r not in stages]
        if missing:
            raise ValueError(f"stage {s.name!r} requires {missing}, which the pipeline was not given")
    sorter = TopologicalSorter({name: s.requires for name, s in stages.items()})
    try:
        sorter.prepare()
    except CycleError as exc:
        raise ValueError(f"stages require each other in a circle: {exc.args[1]}") from None
    order: list[str] = []
    while len(order) < len(stages):  # the first stage (in the given order) whose inputs are all placed
        name = next(n for n, st in stages.items() if n not in order and all(r in order for r in st.requires))
        order.append(name)
    return order


class Pipeline:
    """Runs the stages it is given in dependency order, skipping those whose manifest matches."""

    def __init__(self, cfg: Config, data_root: str | Path, work_dir: str | Path, stages: Iterable[Stage],
                 logger: logging.Logger | None = None, submission_dir: str | Path | None = None,
                 device: torch.device | str = "cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        self.data_root = Path(data_root)
        self.artifacts = Artifacts(work_dir, submission_dir)
        self.logger = logger or logging.getLogger("ilsvrc_pipe")
        self._file_digests: dict[tuple, str] = {}   # (path, size, mtime) -> sha256: each file hashed once
        given = {s.name: s for s in stages}
        self.order = topological_order(given)
        self.stages = {name: given[name] for name in self.order}

    @property
    def work_dir(self) -> Path:
        return self.artifacts.work_dir

    # -- manifests ------------------------------------------------------------------------------
    def manifest_path(self, name: str) -> Path:
        return self.artifacts.manifest(name)

    def read_manifest(self, name: str) -> dict | None:
        p = self.manifest_path(name)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:
            self.logger.warning("%s is unreadable; stage %s will run again", p, name)
            return None

    def file_digest(self, path: Path) -> str:
        """:func:`file_sha256` of ``path``, computed once per file version in this pipeline's life."""
        stat = Path(path).stat()
        key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in self._file_digests:
            self._file_digests[key] = file_sha256(path)
        return self._file_digests[key]

    def fingerprint(self, name: str) -> dict:
        stage = self.stages[name]
        inputs = {dep: (self.read_manifest(dep) or {}).get("run_id") for dep in stage.requires}
        if not stage.requires:
            inputs["data_root"] = data_root_fingerprint(self.data_root)
        if stage.submits:
            inputs["submission_dir"] = str(self.artifacts.submission_dir.resolve())
        files = stage.external_files(DeclaredConfig(self.cfg, stage.reads, name))
        if files:   # absent when there are none: fingerprints of stages without such files stay as they were
            inputs["files"] = {label: self.file_digest(path) for label, path in sorted(files.items())}
        return {"config": self.config_hash(name), "inputs": inputs}

    def config_hash(self, name: str) -> str:
        """The fingerprint's hash of the config sections stage ``name`` reads (no file is read)."""
        return config_hash(self.cfg, self.stages[name].reads)

    def is_done(self, name: str) -> bool:
        m = self.read_manifest(name)
        return bool(m) and m.get("fingerprint") == self.fingerprint(name)

    # -- planning and running -------------------------------------------------------------------
    def plan(self, targets: list[str], force: bool = False) -> list[str]:
        """Stages to run, in order: the targets (unless done) and what they need that is missing."""
        if not targets:
            raise KeyError(f"no stage named; known: {self.order}")
        unknown = [t for t in targets if t not in self.stages]
        if unknown:
            raise KeyError(f"unknown stage(s) {unknown}; known: {self.order}")
        wanted: set[str] = set()

        def need(name: str) -> None:
            if name not in wanted:
                wanted.add(name)
                for dep in self.stages[name].requires:
                    need(dep)

        for t in targets:
            need(t)
        todo: set[str] = set()
        for name in self.order:  # inputs first: a stage reruns when one of its inputs does
            if name not in wanted:
                continue
            if ((force and name in targets) or any(d in todo for d in self.stages[name].requires)
                    or not self.is_done(name)):
                todo.add(name)
        return [s for s in self.order if s in todo]

    def _prepare_out_dir(self, name: str, fingerprint: dict, force: bool) -> None:
        """Keep what an interrupted run of the same stage left (it resumes from it), and outputs of
        no recorded run (e.g. a classifier trained by ``tools/train.py`` under torchrun); clear
        outputs made under another fingerprint (config, data or inputs changed) or when forced."""
        out = self.artifacts.stage_dir(name)
        started = out / STARTED
        previous = json.loads(started.read_text()) if started.is_file() else None
        if out.exists() and (force or (previous is not None and previous != fingerprint)):
            self.logger.info("stage %-5s: clearing %s (%s)", name, out,
                             "--force" if force else "made with another config or other inputs")
            on_main(lambda: shutil.rmtree(out))
        elif out.exists() and any(p.name != STARTED for p in out.iterdir()):
            self.logger.info("stage %-5s: resuming from the outputs an interrupted run left in %s", name, out)
        write_json_atomic(started, fingerprint)

    def run(self, targets: list[str], force: bool = False) -> dict[str, dict]:
        plan = self.plan(targets, force)
        for name in (t for t in targets if t not in plan):
            self.logger.info("stage %-5s up to date (manifest %s matches); --force redoes it", name,
                             self.manifest_path(name))
        results = {}
        clock = StageClock(plan, last_timings(plan, self.read_manifest), self.logger)  # before outputs are cleared
        for name in plan:
            stage = self.stages[name]
            ctx = StageContext(DeclaredConfig(self.cfg, stage.reads, name), self.data_root, self.artifacts,
                               name, self.logger, force, self.device)
            fingerprint = self.fingerprint(name)
            self._prepare_out_dir(name, fingerprint, force and name in targets)
            clock.start(name)
            t0 = time.perf_counter()
            figures = stage.run(ctx) or {}
            seconds = time.perf_counter() - t0
            finished = _dt.datetime.now().isoformat(timespec="seconds")
            manifest = {"stage": name, "fingerprint": fingerprint, "run_id": hash_json([fingerprint, finished]),
                        "finished": finished, "seconds": round(seconds, 2), "figures": figures}
            write_json_atomic(self.manifest_path(name), manifest)
            self.logger.info("stage %-5s done in %.1f s", name, seconds)
            clock.done(name)
            results[name] = manifest
        return results

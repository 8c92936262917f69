"""Train a stage's members side by side on the CPU: one process each, an equal share of the threads.

Why: the embedded default's models are small enough that their convolutions keep two threads only
partly busy. Trained each in its own process with one thread, two R-CNNs finish 1.20x and two
detectors 1.17x sooner than one after the other with two threads on 2 cores
(``benchmarks/results/bench_side_by_side_full.txt``). Where the members differ in cost (the mini
classifiers) the faster one's core idles once it is done, so a config turns this on per stage.

A member's weights follow its thread count (weight-gradient sums are split among threads), never
how many members share the machine with it: a member always trains with the same share
(``num_threads // len(members)``), also when it is the only one left to train (the others finished
in an interrupted run). Each training is :func:`~ilsvrc_pipe.engine.training.train_to_final` in a
spawned interpreter, so a re-run resumes an interrupted member from its last checkpoint as in one
process. Its output goes to ``side_by_side.log`` in its train dir (mmengine's own log is beside it);
a member that fails stops the others and names its log. A child dies with the pipeline
(``PR_SET_PDEATHSIG`` on Linux) and the pipeline stops its children on any exception.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..utils.parent_death import die_with_parent

LOG_NAME = "side_by_side.log"


@dataclass
class MemberTraining:
    """What :func:`~ilsvrc_pipe.engine.training.train_to_final` needs for one member, picklable."""

    name: str
    spec: dict
    work_dir: Path
    final: Path
    seed: int = 0
    log_interval: int = 10
    deterministic: bool | None = None


def member_threads(num_threads: int, members: int) -> int:
    """Each member's share of ``num_threads`` (at least one)."""
    return max(1, int(num_threads) // max(1, int(members)))


def _train_in_child(job: MemberTraining, threads: int, parent_pid: int) -> None:
    """The spawned process: its output into the member's log, ``threads`` threads, then the training."""
    die_with_parent(parent_pid)
    job.work_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(job.work_dir / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    import torch

    from .training import train_to_final

    torch.set_num_threads(threads)
    train_to_final(job.spec, job.work_dir, job.final, seed=job.seed, log_interval=job.log_interval,
                   deterministic=job.deterministic)
    sys.stdout.flush()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class MemberTrainingFailed(RuntimeError):
    """A member trained side by side exited with an error; the message names it and ends with its log."""


def train_side_by_side(jobs: list[MemberTraining], threads: int, logger: logging.Logger | None = None,
                       poll_s: float = 0.5) -> list[Path]:
    """Train every job whose final weights are missing in its own spawned process with ``threads``
    threads, all at once; return each job's final weights, in order."""
    logger = logger or logging.getLogger(__name__)
    todo = []
    for job in jobs:
        if Path(job.final).is_file():
            logger.info("%s already trained (%s)", job.name, job.final)
        else:
            todo.append(job)
    if not todo:
        return [Path(j.final) for j in jobs]
    spawn = multiprocessing.get_context("spawn")
    running: dict[str, tuple[multiprocessing.Process, MemberTraining, float]] = {}
    logger.info("training %s side by side, %d thread(s) each; their output: %s",
                ", ".join(j.name for j in todo), threads, ", ".join(str(j.work_dir / LOG_NAME) for j in todo))
    try:
        for job in todo:
            proc = spawn.Process(target=_train_in_child, args=(job, threads, os.getpid()), name=f"train {job.name}")
            proc.start()
            running[job.name] = (proc, job, time.perf_counter())
        while running:
            for name, (proc, job, start) in list(running.items()):
                proc.join(timeout=poll_s / max(1, len(running)))
                if proc.exitcode is None:
                    continue
                del running[name]
                if proc.exitcode != 0 or not Path(job.final).is_file():
                    log = job.work_dir / LOG_NAME
                    raise MemberTrainingFailed(
                        f"training {name} failed (exit {proc.exitcode}); the end of {log}:\n{_tail(log)}")
                logger.info("%s trained in %.0f s (%s)", name, time.perf_counter() - start, job.final)
    finally:
        for proc, _, _ in running.values():   # an error or an interrupt: stop the others (their checkpoints stay)
            proc.terminate()
        for proc, _, _ in running.values():
            proc.join(timeout=30)
            if proc.exitcode is None:
                proc.kill()
                proc.join()
    return [Path(j.final) for j in jobs]

"""Shared test fixtures: the committed scoring fixture, a generated smoke dataset, and tiny file writers
(ILSVRC XML annotations, images) used by the data and evaluation tests."""
from __future__ import annotations

import os
from pathlib import Path

# The thread governor changes thread counts with the machine's load (ilsvrc_pipe/utils/thread_governor.py),
# and a test-time forward's last bits with them; tests that compare two runs must not depend on what
# else CI runs, so tools loaded here (tools/predict.py defaults to 'inference') start it off. Tests
# of the governor itself set the variable they need.
os.environ.setdefault("ILSVRC_PIPE_ADAPTIVE_THREADS", "off")

import numpy as np
import pytest
from PIL import Image

import ilsvrc_pipe  # noqa: E402,F401  (first: sets the OpenMP wait policy before a test imports torch)

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def scoring_fixture() -> Path:
    """``tests/fixtures/scoring``: a small ground truth with the official devkit's answers (``expected.json``).

    It is part of the repository: a missing file is an error, never a skip."""
    path = FIXTURES / "scoring"
    assert (path / "expected.json").is_file(), f"{path}/expected.json is missing: the scoring fixture is incomplete"
    return path


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory) -> Path:
    """The smoke preset of the embedded dataset, generated once per test session."""
    from ilsvrc_pipe.synthetic import generate_mini_ilsvrc

    return Path(generate_mini_ilsvrc(tmp_path_factory.mktemp("smoke") / "mini", preset="smoke", seed=0))


def _xml_text(stem: str, objects, width: int, height: int) -> str:
    parts = [f"<annotation><folder>val</folder><filename>{Path(stem).name}</filename>",
             "<source><database>test</database></source>",
             f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"]
    for wnid, (x1, y1, x2, y2) in objects:
        parts.append(f"<object><name>{wnid}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
                     f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>")
    return "".join(parts) + "</annotation>\n"


@pytest.fixture
def write_xml():
    """``write_xml(folder, stem, [(wnid, box), ...], width=500, height=500)`` -> path of ``folder/stem.xml``.

    ``stem`` may hold sub-folders (``ILSVRC2013_train/n01440764/n01440764_1``); they are created."""
    def write(folder: Path, stem: str, objects, width: int = 500, height: int = 500) -> Path:
        path = Path(folder) / f"{stem}.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_xml_text(stem, objects, width, height))
        return path
    return write


@pytest.fixture
def write_image():
    """``write_image(path, size=(width, height), box=None)`` -> path: a black RGB image, the inclusive
    ``box`` (x1, y1, x2, y2) white; the format follows the suffix (``.png`` is lossless)."""
    def write(path: Path, size=(60, 40), box=None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        width, height = size
        pixels = np.zeros((height, width, 3), np.uint8)
        if box is not None:
            x1, y1, x2, y2 = box
            pixels[y1: y2 + 1, x1: x2 + 1] = 255
        Image.fromarray(pixels).save(path)
        return path
    return write


@pytest.fixture
def devkit_val_root(tmp_path, write_xml):
    """DET val with its halves as the public ILSVRC2014 devkit ships them: ``det_lists/ilsvrc13_val2.txt``
    (not sorted, renumbered 1..n) beside ``det_lists/val.txt``, no val1 list; XMLs give the sizes.

    Returns a namespace: ``root``, ``wnids`` (DET ids 1, 2), ``val`` (stems in val.txt order), ``val2``
    (the list's order: official indices 6, 2, 5), ``val1`` (val minus val2 minus the blacklisted images
    3 and 5: indices 1, 4, 7)."""
    from types import SimpleNamespace

    a, b = "n02672831", "n02691156"
    val = [f"ILSVRC201{2 + k % 2}_val_{10 * (k + 1):08d}" for k in range(7)]
    val2 = [val[5], val[1], val[4]]
    ilsvrc = tmp_path / "devkit_root" / "ILSVRC"
    dk, sets = ilsvrc / "devkit" / "data", ilsvrc / "ImageSets" / "DET"
    (dk / "det_lists").mkdir(parents=True)
    sets.mkdir(parents=True)
    (dk / "map_det.txt").write_text(f"{a} 1 accordion\n{b} 2 airplane\n")
    val_lines = "".join(f"{s} {i}\n" for i, s in enumerate(val, 1))
    (sets / "val.txt").write_text(val_lines)
    (dk / "det_lists" / "val.txt").write_text(val_lines)
    (dk / "det_lists" / "ilsvrc13_val2.txt").write_text("".join(f"{s} {i}\n" for i, s in enumerate(val2, 1)))
    (dk / "ILSVRC2015_det_validation_blacklist.txt").write_text(f"3 {a}\n3 {b}\n5 {a}\n")
    for k, stem in enumerate(val):
        write_xml(ilsvrc / "Annotations" / "DET" / "val", stem, [((a, b)[k % 2], [1, 1, 20, 20])], 60, 40)
    return SimpleNamespace(root=tmp_path / "devkit_root", wnids=(a, b), val=val, val2=val2,
                           val1=[val[0], val[3], val[6]])


REPO_ROOT = Path(__file__).resolve().parents[1]
SMOKE_CONFIG = "configs/mini/smoke.py"
PIPELINE_STAGES = ("data", "cls", "rpn", "rcnn", "loc", "eval")


def run_pipeline_tool(*args, cwd=REPO_ROOT, timeout: int = 900):
    """``tools/run_pipeline.py ARGS`` in a subprocess, as a user runs it; returns the CompletedProcess."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, str(REPO_ROOT / "tools/run_pipeline.py"), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def smoke_run(smoke_root, tmp_path_factory) -> dict:
    """One uninterrupted ``--stage all`` run of the smoke config on the session's smoke root:
    ``{"root", "work", "subs", "result"}`` (the reference the resume tests compare with)."""
    base = tmp_path_factory.mktemp("smoke_run")
    work, subs = base / "work", base / "subs"
    res = run_pipeline_tool("--config", SMOKE_CONFIG, "--work-dir", work, "--submission-dir", subs,
                            "--cfg-options", f"data.root={smoke_root}")
    return {"root": smoke_root, "work": work, "subs": subs, "result": res}


def import_tool(tool: str):
    """``tools/<tool>.py`` as a module (its folder on sys.path for ``_bootstrap``): tests call its ``main``."""
    import importlib.util
    import sys

    if str(REPO_ROOT / "tools") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "tools"))
    spec = importlib.util.spec_from_file_location(f"{tool}_tool", REPO_ROOT / "tools" / f"{tool}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tool_module():
    """:func:`import_tool` (test modules cannot import conftest under importlib mode)."""
    return import_tool


@pytest.fixture(scope="session")
def pipeline_tool():
    """:func:`run_pipeline_tool` (test modules cannot import conftest under importlib mode)."""
    return run_pipeline_tool


class LinuxProcesses:
    """Processes seen through ``/proc``: the tests that kill a launcher (a pipeline, torchrun) check
    that the processes it started end with it."""

    @staticmethod
    def children(pid: int) -> list[int]:
        """The processes whose parent is ``pid``."""
        kids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(stat.parent.name))
            except (OSError, IndexError, ValueError):
                continue
        return kids

    @staticmethod
    def alive(pid: int) -> bool:
        """Whether ``pid`` runs (a zombie nobody reaped has ended)."""
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    @classmethod
    def survivors(cls, pids: list[int], within: float) -> list[int]:
        """Those of ``pids`` still running after ``within`` seconds of waiting for them to end; they
        are SIGKILLed, so a failing test leaves nothing running."""
        import signal
        import time

        deadline = time.monotonic() + within
        while any(map(cls.alive, pids)) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [pid for pid in pids if cls.alive(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        return left


@pytest.fixture(scope="session")
def processes():
    """:class:`LinuxProcesses` (test modules cannot import conftest under importlib mode)."""
    return LinuxProcesses


@pytest.fixture(autouse=True)
def _ground_truth_cache_in_tmp(tmp_path_factory, monkeypatch):
    """Scorers that cache parsed ground truth (tools/evaluate.py) write into a fresh folder per test,
    never into the user's ``~/.cache`` and never reusing another test's entries."""
    monkeypatch.setenv("ILSVRC_PIPE_CACHE_DIR", str(tmp_path_factory.mktemp("gt_cache")))


def randomised_torchvision(arch: str = "resnet18", seed: int = 0):
    """A torchvision ResNet with random weights and non-trivial BN (eval mode), so a wrong name mapping
    shows in its outputs."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(weights=None)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(std=0.1)
    return model.eval()


@pytest.fixture(scope="session")
def torchvision_resnet():
    """:func:`randomised_torchvision` (test modules cannot import conftest under importlib mode)."""
    return randomised_torchvision


@pytest.fixture
def torch_threads():
    """``torch.set_num_threads`` for the test; the count it found is put back afterwards."""
    import torch

    threads = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(threads)


@pytest.fixture
def single_thread(torch_threads):
    """One torch thread for the test: fastest on tiny tensors, and immune to other jobs on the cores."""
    torch_threads(1)


@pytest.fixture
def restore_package_logger():
    """The tools' ``main`` points the ``ilsvrc_pipe`` logger at this test's captured stderr; put the
    logger back afterwards, or later tests would log into a closed stream."""
    import logging

    logger = logging.getLogger("ilsvrc_pipe")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in logger.handlers:
        if handler not in saved[0]:
            handler.close()
    logger.handlers[:], logger.propagate = saved[0], saved[2]
    logger.setLevel(saved[1])

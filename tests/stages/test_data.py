"""The data stage: the DET val halves as the ILSVRC2014 devkit ships them (and their one log line),
and the per-split caps of ``data.max_images`` applied to every table and ground truth it writes."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from mmengine.config import Config

from ilsvrc_pipe.artifacts.paths import Artifacts
from ilsvrc_pipe.data.det_records import load_det_records, read_det_train_lists
from ilsvrc_pipe.data.loc_records import SPLITS, load_loc_records
from ilsvrc_pipe.data.synsets import find_clsloc_synsets, find_det_synsets
from ilsvrc_pipe.engine.stage import DeclaredConfig, StageContext
from ilsvrc_pipe.evaluation.ground_truth import load_loc_ground_truth
from ilsvrc_pipe.evaluation.loc import evaluate_loc_file
from ilsvrc_pipe.stages.data import DataStage
from ilsvrc_pipe.submission.loc_file import write_loc_file
from ilsvrc_pipe.utils.errors import UserInputError
from ilsvrc_pipe.utils.io_utils import read_table


def data_context(root, tmp_path, logger) -> StageContext:
    cfg = Config(dict(data=dict(verify_images=False)))   # the XMLs give every size: no image is read
    return StageContext(DeclaredConfig(cfg, DataStage.reads, "data"), root, Artifacts(tmp_path / "work"), "data", logger)


def test_det_halves_from_the_devkit_lists_and_the_log_line(devkit_val_root, tmp_path, caplog):
    logger = logging.getLogger("test_data_stage")
    ctx = data_context(devkit_val_root.root, tmp_path, logger)
    with caplog.at_level(logging.INFO, logger="test_data_stage"):
        figures = DataStage._index_det(ctx, {})
    assert (figures["det_val_images"], figures["det_val1_images"], figures["det_val2_images"]) == (7, 3, 3)
    art = ctx.artifacts
    assert art.read_images("det", "val1")["index"].tolist() == [1, 4, 7]
    assert art.read_images("det", "val2")["index"].tolist() == [6, 2, 5]
    assert art.read_det_ground_truth("val1").image_index.tolist() == [1, 4, 7]
    notes = [r.getMessage() for r in caplog.records if "val1 is derived" in r.getMessage()]
    assert len(notes) == 1 and "\n" not in notes[0], [r.getMessage() for r in caplog.records]
    assert "ilsvrc13_val2.txt (3 images" in notes[0] and "minus 1 blacklisted image(s) outside val2" in notes[0]
    assert "3 images in val order" in notes[0]


# -- per-split caps (data.max_images) ------------------------------------------------------------
SMALL_CAPS = dict(loc_train_per_class=3, loc_val=5, loc_test=2, det_train=6, det_val=3, det_test=2)


def run_data_stage(root, work, data: dict | None = None, logger_name: str = "test_data_stage"):
    """The whole data stage, in this process, on ``root`` into ``work``; returns its figures and artifacts."""
    cfg = Config(dict(data=dict(verify_images=False, **(data or {}))))
    art = Artifacts(work)
    ctx = StageContext(DeclaredConfig(cfg, DataStage.reads, "data"), root, art, "data", logging.getLogger(logger_name))
    return DataStage().run(ctx), art


class _Records(logging.Handler):
    """Keeps the messages of a module-scoped run (caplog is per test)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def cut_run(smoke_root, tmp_path_factory):
    """The smoke preset indexed under SMALL_CAPS, with the log records of the run."""
    handler = _Records()
    logger = logging.getLogger("test_data_stage_cut")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        figures, art = run_data_stage(smoke_root, tmp_path_factory.mktemp("cut") / "work",
                                      dict(max_images=SMALL_CAPS), "test_data_stage_cut")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    return SimpleNamespace(figures=figures, art=art, log=handler.messages, root=smoke_root)


def test_loc_splits_keep_their_first_images_and_the_ground_truth_follows(cut_run):
    art, root = cut_run.art, cut_run.root
    synsets = find_clsloc_synsets(root)
    full = {s: load_loc_records(root, s, synsets) for s in SPLITS}
    train = art.read_loc_records("train")
    per_class = full["train"].images.groupby("wnid", sort=False).head(3)
    assert train.images.image_id.tolist() == per_class.image_id.tolist()
    assert train.images.wnid.value_counts().to_dict() == {w: 3 for w in synsets.wnids}
    assert set(train.boxes.image_id) <= set(train.images.image_id) and len(train.boxes)
    val, test = art.read_loc_records("val"), art.read_loc_records("test")
    assert val.images.image_id.tolist() == full["val"].images.image_id.tolist()[:5]
    assert test.images.image_id.tolist() == full["test"].images.image_id.tolist()[:2]
    assert set(val.boxes.image_id) == set(val.images.image_id)

    gt, full_gt = art.read_loc_ground_truth("val"), load_loc_ground_truth(data_root=root)
    assert gt.stems == val.images.image_id.tolist()
    assert gt.class_ids.tolist() == [synsets.id_of(w) for w in val.images.wnid]
    assert 0 <= gt.object_image.min() and gt.object_image.max() == 4 and len(gt.object_boxes) == len(val.boxes)
    # the smoke preset blacklists images 2 and 13 of 16: image 2 is kept, at its own position
    assert full_gt.blacklist.tolist() == [2, 13] and gt.blacklist.tolist() == [2]
    assert [gt.stems[b - 1] for b in gt.blacklist] == [full_gt.stems[1]]
    assert val.images.blacklisted.tolist() == [i + 1 in gt.blacklist for i in range(5)]


def test_a_loc_file_of_the_kept_val_images_scores_with_the_cut_ground_truth(cut_run, tmp_path):
    art = cut_run.art
    gt, synsets = art.read_loc_ground_truth("val"), art.read_classes()["clsloc"]
    first = [int(np.flatnonzero(gt.object_image == i)[0]) for i in range(len(gt.stems))]
    path = tmp_path / "loc_val.txt"
    write_loc_file(path, gt.class_ids[:, None], gt.object_boxes[first][:, None, :])
    result = evaluate_loc_file(path, gt, synsets)
    assert result["n_images"] == 5 and result["n_blacklisted"] == 1 and result["loc_error"][0] == 0.0


def test_det_splits_keep_every_class_and_their_ground_truth_follows(cut_run):
    art, root = cut_run.art, cut_run.root
    det_synsets = find_det_synsets(root)
    train, full_train = art.read_images("det", "train"), load_det_records(root, "train", det_synsets)
    assert len(train) == 6
    boxes = read_table(art.records("det", "train", "boxes"))
    assert set(boxes.wnid) == set(full_train.boxes.wnid) == set(det_synsets.wnids)
    assert set(boxes.image_id) <= set(train.image_id)
    lists, full_lists = read_table(art.det_train_lists()), read_det_train_lists(root, det_synsets)
    kept_lines = full_lists[full_lists.stem.isin(set(train.image_id))].reset_index(drop=True)
    assert lists.to_dict("list") == kept_lines.to_dict("list") and len(lists) < len(full_lists)

    for half in ("val1", "val2"):
        listed = load_det_records(root, half, det_synsets).images
        assert art.read_images("det", half).image_id.tolist() == listed.image_id.tolist()[:3]
    halves = set(art.read_images("det", "val1")["index"]) | set(art.read_images("det", "val2")["index"])
    val = art.read_images("det", "val")
    assert set(val["index"]) == halves and val["index"].is_monotonic_increasing and len(val) == 6
    for split in ("val", "val1", "val2"):
        gt, images = art.read_det_ground_truth(split), art.read_images("det", split)
        assert gt.image_index.tolist() == images["index"].tolist() and gt.stems == images.image_id.tolist()
        assert set(gt.blacklist[:, 0]) <= set(gt.image_index)
        assert len(gt.object_boxes) == len(read_table(art.records("det", split, "boxes")))
        assert gt.object_image.max() < len(images)
    test = art.read_images("det", "test")
    assert len(test) == 2 and (test.width > 0).all() and (test.height > 0).all()   # header sizes of kept images


def test_each_cut_split_logs_one_line(cut_run):
    lines = [m for m in cut_run.log if "data.max_images" in m]
    expected = {"CLS-LOC train": "kept 12 of 64", "CLS-LOC val": "kept 5 of 16", "CLS-LOC test": "kept 2 of 8",
                "DET train": "kept 6 of 44", "DET val": "kept 6 of 16", "DET val1": "kept 3 of 7",
                "DET val2": "kept 3 of 7", "DET test": "kept 2 of 8"}
    assert len(lines) == len(expected), lines
    for split, kept in expected.items():
        assert sum(m.startswith(split + ":") and kept in m for m in lines) == 1, (split, lines)
    assert (cut_run.figures["loc_val_images"], cut_run.figures["loc_val_images_listed"]) == (5, 16)


def _written(art: Artifacts) -> dict[str, str]:
    folder = art.stage_dir("data")
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_no_key_and_caps_that_cut_nothing_write_the_same_bytes(smoke_root, tmp_path):
    """The smoke preset holds 16 train images per class, 16 val, 8 test; DET 44 train, halves of 7
    (val 16: two images are in neither half), 8 test: caps at those sizes change nothing."""
    figures, plain = run_data_stage(smoke_root, tmp_path / "plain")
    written = _written(plain)
    assert len(written) == 22 and not any(k.endswith("_images_listed") for k in figures)
    for n, data in enumerate([dict(max_images=None), dict(max_images=dict(
            loc_train_per_class=16, loc_val=16, loc_test=8, det_train=44, det_val=7, det_test=8))]):
        again, art = run_data_stage(smoke_root, tmp_path / f"run{n}", data)
        assert _written(art) == written
        assert {k: v for k, v in again.items() if not k.endswith("_images_listed")} == figures


def test_bad_caps_stop_the_stage_with_one_line(smoke_root, tmp_path):
    with pytest.raises(UserInputError, match=r"^data\.max_images\.det_vals: unknown cap") as info:
        run_data_stage(smoke_root, tmp_path / "bad", dict(max_images=dict(det_vals=3)))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "bad" / "data").exists()


# -- indexing once, in parallel ------------------------------------------------------------------
def test_outputs_are_the_same_with_one_parse_worker_and_several(smoke_root, tmp_path, monkeypatch):
    """Every XML and image header read in 2 processes (the pool forced on the smoke preset's short
    lists) gives the bytes of one process reading them in order."""
    monkeypatch.setenv("ILSVRC_PIPE_PARSE_WORKERS", "1")
    one, one_art = run_data_stage(smoke_root, tmp_path / "one")
    monkeypatch.setenv("ILSVRC_PIPE_PARSE_WORKERS", "2")
    several, several_art = run_data_stage(smoke_root, tmp_path / "several")
    assert _written(several_art) == _written(one_art) and len(_written(one_art)) == 22
    assert several == one


def _index_in_two_processes(rank: int, root: str, work: str, init: str) -> None:
    """One rank of a 2-process gloo group running the data stage; notes every split it indexed."""
    import datetime
    import json

    import torch.distributed as dist

    from ilsvrc_pipe.stages import data as data_stage

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2, timeout=datetime.timedelta(seconds=120))
    indexed = []
    load = data_stage.load_loc_records
    data_stage.load_loc_records = lambda *args, **kwargs: indexed.append(args[1]) or load(*args, **kwargs)
    try:
        figures, _ = run_data_stage(Path(root), Path(work))
        Path(work, f"rank{rank}.json").write_text(json.dumps({"indexed": indexed, "figures": figures}))
    finally:
        dist.destroy_process_group()


def test_two_processes_index_once_and_write_what_one_process_writes(smoke_root, tmp_path):
    import json

    import torch.multiprocessing as mp

    figures, one = run_data_stage(smoke_root, tmp_path / "one")
    work = tmp_path / "two"
    mp.spawn(_index_in_two_processes, args=(str(smoke_root), str(work), f"file://{tmp_path / 'rendezvous'}"),
             nprocs=2, join=True)
    ranks = [json.loads((work / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["indexed"] == list(SPLITS) and ranks[1]["indexed"] == []   # rank 1 only waited
    assert ranks[0]["figures"] == ranks[1]["figures"] == json.loads(json.dumps(figures))
    assert _written(Artifacts(work)) == _written(one)
    assert not list(work.rglob(".*.tmp"))


def test_torchrun_data_stage_writes_the_bytes_of_one_process(smoke_root, tmp_path):
    """``tools/run_pipeline.py --stage data`` under a 2-process torchrun (gloo) against the same stage
    in this process, both with the smoke config's data section."""
    import json
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    cfg = Config.fromfile(str(repo / "configs/mini/smoke.py"))
    art = Artifacts(tmp_path / "one")
    ctx = StageContext(DeclaredConfig(cfg, DataStage.reads, "data"), smoke_root, art, "data", logging.getLogger("t"))
    figures = DataStage().run(ctx)
    work = tmp_path / "two"
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29541", "tools/run_pipeline.py", "--launcher", "pytorch", "--stage", "data", "--config",
                          "configs/mini/smoke.py", "--work-dir", str(work), "--submission-dir", str(tmp_path / "subs"),
                          "--device", "cpu", "--cfg-options", f"data.root={smoke_root}"],
                         cwd=repo, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    by_pipeline = {k: v for k, v in _written(Artifacts(work)).items() if k not in ("manifest.json", ".started.json")}
    assert by_pipeline == _written(art) and len(by_pipeline) == 22
    assert json.loads((work / "data" / "manifest.json").read_text())["figures"] == json.loads(json.dumps(figures))


_OPENED: list[str] | None = None   # the XMLs this process opens while a test listens
_LISTENING = False                 # audit hooks cannot be removed: one is added per process, gated by _OPENED


def _note_xml_opens(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, Path)) and str(args[0]).endswith(".xml"):
        _OPENED.append(str(args[0]))


def test_the_xmls_are_read_by_worker_processes(smoke_root, tmp_path, monkeypatch):
    """With 2 parsing processes, this process opens only the XMLs the fast reader leaves to the
    line-tracking one (the smoke preset's broken boxes), not the hundred of the data root."""
    global _OPENED, _LISTENING
    import sys

    if not _LISTENING:
        sys.addaudithook(_note_xml_opens)
        _LISTENING = True
    monkeypatch.setenv("ILSVRC_PIPE_PARSE_WORKERS", "2")
    _OPENED = []
    try:
        run_data_stage(smoke_root, tmp_path / "work")
        opened = list(_OPENED)
    finally:
        _OPENED = None
    n_xml = len(list(smoke_root.rglob("*.xml")))
    assert n_xml > 100 and len(opened) <= 4, (n_xml, opened)

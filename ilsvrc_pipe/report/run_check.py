"""Is a finished run whole? Every stage's manifest, and every submission file written and scored.

A run can end with status 0 and still lack what its user came for (a stage that found no DET part
skips its work; a submission folder pointed elsewhere). ``tests/test_paper_size_smoke.py`` and
``tools/gpu_check.py`` judge a run by its outputs instead: each stage's ``manifest.json``, and each
submission file read back strictly and scored by the official rules against the data root's own
ground truth (the val files), or read back strictly with one line per listed image (the test files,
whose ground truth nobody has).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

STAGES = ("data", "cls", "rpn", "rcnn", "loc", "det", "eval")
LOC_VAL_FILES = ("loc_val.txt", "loc_val.csv")
LOC_TEST_FILES = ("loc_test.txt", "loc_test.csv")
DET_FILES = {"det_val2.txt": "val2", "det_test.txt": "test"}


@dataclass
class RunCheck:
    """What :func:`check_finished_run` found: the problems (empty: the run is whole) and the scores."""

    problems: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _manifests(work_dir: Path, stages, check: RunCheck) -> None:
    for stage in stages:
        path = work_dir / stage / "manifest.json"
        try:
            if json.loads(path.read_text())["stage"] != stage:
                check.problems.append(f"{path} names another stage")
        except (OSError, ValueError, KeyError) as exc:
            check.problems.append(f"{path}: {type(exc).__name__} {exc}")


def _loc_files(subs: Path, data_root: Path, check: RunCheck) -> None:
    from ..data.synsets import find_clsloc_synsets
    from ..evaluation.ground_truth import load_loc_ground_truth
    from ..evaluation.loc import evaluate_loc_file
    from ..submission.kaggle_csv import read_kaggle_loc_csv
    from ..submission.loc_file import read_loc_file

    synsets = find_clsloc_synsets(data_root)
    gt = load_loc_ground_truth(data_root=data_root, split="val", cache_dir=None)
    for name in LOC_VAL_FILES:
        result = evaluate_loc_file(subs / name, gt, synsets)
        check.scores[f"{name} top-5 LOC error"] = float(result["loc_error"][4])
    n_test = len(_listed_images(data_root, "CLS-LOC", "test"))
    read_loc_file(subs / "loc_test.txt", num_images=n_test, num_classes=len(synsets))
    image_ids, _ = read_kaggle_loc_csv(subs / "loc_test.csv", synsets)
    if len(image_ids) != n_test:
        check.problems.append(f"{subs / 'loc_test.csv'}: {len(image_ids)} rows for {n_test} test images")


def _det_files(subs: Path, data_root: Path, check: RunCheck) -> None:
    from ..data.synsets import find_det_synsets
    from ..evaluation.det import evaluate_det
    from ..evaluation.ground_truth import load_det_ground_truth
    from ..submission.det_file import read_det_file

    num_classes = len(find_det_synsets(data_root))
    gt = load_det_ground_truth(data_root=data_root, split="val2", cache_dir=None)
    detections = read_det_file(subs / "det_val2.txt", num_classes=num_classes, image_indices=gt.image_index)
    check.scores["det_val2.txt mAP"] = float(evaluate_det(detections, gt)["mAP"])
    test_indices = _listed_images(data_root, "DET", "test")["index"].to_numpy()
    test = read_det_file(subs / "det_test.txt", num_classes=num_classes, image_indices=test_indices)
    check.scores["det_test.txt detections"] = float(len(test))


def _listed_images(data_root: Path, task: str, split: str):
    """The ``<stem> <index>`` list of a split (a pandas frame: stem, index)."""
    from ..data.image_sets import read_image_list
    from ..data.synsets import ilsvrc_dir

    return read_image_list(ilsvrc_dir(data_root) / "ImageSets" / task / f"{split}.txt")


def check_finished_run(work_dir: str | Path, submission_dir: str | Path, data_root: str | Path,
                       stages=STAGES, det: bool = True) -> RunCheck:
    """Check a finished ``--stage all`` run: manifests of ``stages``, the LOC submissions (and the DET
    ones when ``det``), each scored or read back strictly. Problems are collected, not raised."""
    from ..data.errors import USER_ERRORS

    check = RunCheck()
    work_dir, subs, data_root = Path(work_dir), Path(submission_dir), Path(data_root)
    _manifests(work_dir, stages, check)
    missing = [n for n in (*LOC_VAL_FILES, *LOC_TEST_FILES, *(DET_FILES if det else ())) if not (subs / n).is_file()]
    check.problems += [f"submission file {subs / n} was not written" for n in missing]
    for name, part in (("LOC", _loc_files), ("DET", _det_files)):
        if name == "DET" and not det:
            continue
        try:
            part(subs, data_root, check)
        except (*USER_ERRORS, ValueError, KeyError) as exc:
            check.problems.append(f"{name} submissions: {exc}")
    return check

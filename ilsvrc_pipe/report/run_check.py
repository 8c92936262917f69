"""Is a finished run whole? Every stage's manifest, and every submission file written and scored.

A run can end with status 0 and still lack what its user came for (a stage that found no DET part
skips its work; a submission folder pointed elsewhere). ``tests/integration/test_paper_size_smoke.py`` and
``tools/gpu_check.py`` judge a run by its outputs instead: each stage's ``manifest.json``, and each
submission file read back strictly and scored by the official rules against the run's own ground
truth (the val files; the ``data`` stage wrote it from the root's XMLs, cut to the images the run
kept when ``data.max_images`` is set), or read back strictly with one line per image of the run's
test records (the test files, whose ground truth nobody has).
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


def _loc_files(subs: Path, art, check: RunCheck) -> None:
    from ..evaluation.loc import evaluate_loc_file
    from ..submission.kaggle_csv import read_kaggle_loc_csv
    from ..submission.loc_file import read_loc_file

    synsets = art.read_classes()["clsloc"]
    gt = art.read_loc_ground_truth("val")
    for name in LOC_VAL_FILES:
        result = evaluate_loc_file(subs / name, gt, synsets)
        check.scores[f"{name} top-5 LOC error"] = float(result["loc_error"][4])
    n_test = len(art.read_images("loc", "test"))
    read_loc_file(subs / "loc_test.txt", num_images=n_test, num_classes=len(synsets))
    image_ids, _ = read_kaggle_loc_csv(subs / "loc_test.csv", synsets)
    if len(image_ids) != n_test:
        check.problems.append(f"{subs / 'loc_test.csv'}: {len(image_ids)} rows for {n_test} test images")


def _det_files(subs: Path, art, check: RunCheck) -> None:
    from ..evaluation.det import evaluate_det
    from ..submission.det_file import read_det_file

    num_classes = len(art.read_classes()["det"])
    gt = art.read_det_ground_truth("val2")
    detections = read_det_file(subs / "det_val2.txt", num_classes=num_classes, image_indices=gt.image_index)
    check.scores["det_val2.txt mAP"] = float(evaluate_det(detections, gt)["mAP"])
    test_indices = art.read_images("det", "test")["index"].to_numpy()
    test = read_det_file(subs / "det_test.txt", num_classes=num_classes, image_indices=test_indices)
    check.scores["det_test.txt detections"] = float(len(test))


def check_finished_run(work_dir: str | Path, submission_dir: str | Path, stages=STAGES, det: bool = True) -> RunCheck:
    """Check a finished ``--stage all`` run: manifests of ``stages``, the LOC submissions (and the DET
    ones when ``det``), each scored or read back strictly. Problems are collected, not raised."""
    from ..artifacts.paths import Artifacts
    from ..utils.errors import USER_ERRORS

    check = RunCheck()
    work_dir, subs = Path(work_dir), Path(submission_dir)
    art = Artifacts(work_dir, subs)
    _manifests(work_dir, stages, check)
    missing = [n for n in (*LOC_VAL_FILES, *LOC_TEST_FILES, *(DET_FILES if det else ())) if not (subs / n).is_file()]
    check.problems += [f"submission file {subs / n} was not written" for n in missing]
    for name, part in (("LOC", _loc_files), ("DET", _det_files)):
        if name == "DET" and not det:
            continue
        try:
            part(subs, art, check)
        except (*USER_ERRORS, OSError, ValueError, KeyError) as exc:
            check.problems.append(f"{name} submissions: {exc}")
    return check

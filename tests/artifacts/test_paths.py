"""The artifact map: default submission folder, ground truth round trip, owned submission files."""
import numpy as np

from ilsvrc_pipe.artifacts.paths import REPO_ROOT, Artifacts
from ilsvrc_pipe.evaluation.ground_truth import DetGroundTruth, LocGroundTruth


def test_submission_folder_is_named_after_the_run_and_lives_in_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    art = Artifacts("work_dirs/my_run")
    assert art.submission_dir == REPO_ROOT / "submissions" / "my_run"
    assert Artifacts("w", tmp_path / "elsewhere").submission("loc_val.txt") == tmp_path / "elsewhere/loc_val.txt"


def test_ground_truth_round_trip(tmp_path):
    art = Artifacts(tmp_path / "w", tmp_path / "s")
    loc = LocGroundTruth(["a", "b"], np.array([3, 1]), np.array([0, 1, 1]), np.array([3, 1, 1]),
                         np.arange(12, dtype=np.float64).reshape(3, 4), np.array([2]))
    art.write_ground_truth("loc", "val", loc)
    back = art.read_loc_ground_truth("val")
    assert back.stems == ["a", "b"] and back.class_ids.tolist() == [3, 1]
    assert np.array_equal(back.object_boxes, loc.object_boxes) and back.blacklist.tolist() == [2]
    det = DetGroundTruth(["x"], np.array([7]), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)),
                         np.zeros((0, 2), np.int64))
    art.write_ground_truth("det", "val2", det)
    assert art.read_det_ground_truth("val2").image_index.tolist() == [7]


def test_a_stage_clears_only_the_submission_files_it_owns(tmp_path):
    art = Artifacts(tmp_path / "w", tmp_path / "s")
    art.submission_dir.mkdir(parents=True)
    for name in ("loc_val.txt", "loc_test.csv", "det_val2.txt"):
        art.submission(name).write_text("x")
    removed = art.clear_submissions("loc_")
    assert sorted(p.name for p in removed) == ["loc_test.csv", "loc_val.txt"]
    assert [p.name for p in art.submission_dir.iterdir()] == ["det_val2.txt"]

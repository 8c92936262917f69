"""``report/run_check.py`` judges a finished run by its outputs: whole, or what is missing or wrong."""
import shutil

import pytest

from ilsvrc_pipe.report.run_check import check_finished_run

pytestmark = pytest.mark.slow   # uses the session's smoke run (tests/conftest.py)


def test_a_whole_run_passes_with_the_scores_of_its_files(smoke_run):
    assert smoke_run["result"].returncode == 0
    import json

    check = check_finished_run(smoke_run["work"], smoke_run["subs"])
    assert check.ok, check.problems
    metrics = json.loads((smoke_run["work"] / "eval/metrics.json").read_text())
    assert check.scores["loc_val.txt top-5 LOC error"] == metrics["submissions"]["val"]["top5_error"]
    assert check.scores["loc_val.csv top-5 LOC error"] == metrics["submissions"]["val_kaggle"]["top5_error"]
    assert check.scores["det_val2.txt mAP"] == metrics["det"]["submission_val2_mAP"]


def test_missing_and_broken_outputs_are_named(smoke_run, tmp_path):
    assert smoke_run["result"].returncode == 0
    work, subs = tmp_path / "work", tmp_path / "subs"
    shutil.copytree(smoke_run["work"], work)
    shutil.copytree(smoke_run["subs"], subs)
    (work / "rcnn" / "manifest.json").unlink()
    (subs / "det_test.txt").unlink()
    lines = (subs / "loc_test.txt").read_text().splitlines()
    (subs / "loc_test.txt").write_text("\n".join(lines[:-1]) + "\n")   # one test image short
    check = check_finished_run(work, subs)
    text = "\n".join(check.problems)
    assert not check.ok
    assert "rcnn/manifest.json" in text and "det_test.txt" in text and "loc_test.txt" in text, text

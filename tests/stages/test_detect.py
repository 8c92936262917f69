"""The det stage's helpers: the whole-image floor, the val2 checks, the best row's choice."""
import pandas as pd
import pytest

from ilsvrc_pipe.artifacts.paths import Artifacts
from ilsvrc_pipe.data.synsets import SynsetTable
from ilsvrc_pipe.stages.detect import class_frequencies, floor_detections


def test_floor_scores_whole_images_by_training_frequency(tmp_path):
    art = Artifacts(tmp_path / "w", tmp_path / "s")
    syn = SynsetTable(("n2", "n1"), ("two", "one"))
    images = pd.DataFrame({"image_id": ["a", "b", "c", "d"], "index": [1, 2, 3, 4], "width": [10, 20, 30, 40],
                           "height": [5, 6, 7, 8]})
    boxes = pd.DataFrame({"image_id": ["a", "a", "b"], "wnid": ["n1", "n1", "n2"], "x1": 0.0, "y1": 0.0,
                          "x2": 1.0, "y2": 1.0})
    art.write_records("det", "train", images, boxes)
    art.write_records("det", "val2", images.head(2), boxes.head(0))
    freq = class_frequencies(art, ["train"], syn)
    assert freq == {1: 0.25, 2: 0.25}   # devkit ids: n2 is 1, n1 is 2; each class on 1 of 4 images
    floor = floor_detections(art, "val2", freq)
    assert len(floor) == 4 and floor[floor.image_id == "b"][["x2", "y2"]].values.tolist() == [[19, 5], [19, 5]]


def test_missing_val2_ground_truth_names_the_lists_the_data_stage_reads(tmp_path):
    import logging

    from mmengine.config import Config

    from ilsvrc_pipe.engine.stage import DeclaredConfig, StageContext
    from ilsvrc_pipe.stages.detect import DetectStage

    art = Artifacts(tmp_path / "w", tmp_path / "s")
    syn = SynsetTable(("n1", "n2"), ("one", "two"))
    art.write_classes({"clsloc": syn, "det": syn})
    images = pd.DataFrame({"image_id": ["a"], "index": [1], "width": [10], "height": [5]})
    art.write_records("det", "train", images, pd.DataFrame(columns=["image_id", "wnid", "x1", "y1", "x2", "y2"]))
    root = tmp_path / "data"
    ctx = StageContext(DeclaredConfig(Config(dict(det=dict())), DetectStage.reads, "det"), root, art, "det",
                       logging.getLogger("test_detect"))
    with pytest.raises(FileNotFoundError) as info:
        DetectStage().run(ctx)
    message = str(info.value)
    for rel in ("ILSVRC/ImageSets/DET/val2.txt", "ILSVRC/devkit/data/det_lists/val2.txt",
                "ILSVRC/devkit/data/det_lists/ilsvrc13_val2.txt"):
        assert str(root / rel) in message
    assert "Annotations/DET/val" in message


def test_the_best_row_is_chosen_on_the_classes_val2_holds():
    """A val2 cut to a few images may hold no object of a class: by the devkit's rule that class's AP is
    NaN once a row detects it, and so is the row's mAP; rows are then compared on the other classes."""
    from ilsvrc_pipe.stages.detect import row_choice_score

    nan = float("nan")
    assert row_choice_score({"mAP": 0.5, "ap": {1: 0.5}, "npos": {1: 3}}) == 0.5
    assert row_choice_score({"mAP": nan, "ap": {1: 0.5, 2: nan, 3: 0.25}, "npos": {1: 3, 2: 0, 3: 1}}) == 0.375
    assert row_choice_score({"mAP": nan, "ap": {2: nan}, "npos": {2: 0}}) == float("-inf")

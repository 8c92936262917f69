"""Per-split image caps (``data.max_images``): the checks of the config key and which images each
cut keeps (the whole data stage under caps is in ``tests/stages/test_data.py``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ilsvrc_pipe.data.det_records import DetRecords
from ilsvrc_pipe.data.loc_records import LocRecords
from ilsvrc_pipe.data.subset import (CAP_KEYS, check_max_images, covering_first_rows, cut_det_records,
                                     cut_loc_records, first_per_class, first_rows, image_caps)
from ilsvrc_pipe.utils.errors import UserInputError


# -- the config key ------------------------------------------------------------------------------
@pytest.mark.parametrize("section", [{}, None, dict(max_images=None), dict(max_images={}),
                                     dict(max_images={k: 1 for k in CAP_KEYS}),
                                     dict(max_images=dict(loc_val=5, det_test=None))])
def test_valid_caps_pass(section):
    check_max_images(section)


@pytest.mark.parametrize("caps, where, expected", [
    (dict(loc_vall=5), "data.max_images.loc_vall", "unknown cap"),
    (dict(loc_val=0), "data.max_images.loc_val", "positive integer"),
    (dict(det_train=-3), "data.max_images.det_train", "positive integer"),
    (dict(det_val=2.5), "data.max_images.det_val", "positive integer"),
    (dict(loc_test="10"), "data.max_images.loc_test", "positive integer"),
    (dict(loc_train_per_class=True), "data.max_images.loc_train_per_class", "positive integer"),
    (8, "data.max_images", "a dict of per-split caps"),
])
def test_bad_caps_are_one_line_naming_the_key(caps, where, expected):
    with pytest.raises(UserInputError) as info:
        check_max_images(dict(max_images=caps))
    message = str(info.value)
    assert message.startswith(where + ":") and expected in message and "\n" not in message, message


def test_image_caps_drops_unset_keys():
    assert image_caps(dict(max_images=dict(loc_val=5, det_test=None))) == {"loc_val": 5}
    assert image_caps(dict()) == {}


# -- which images a cut keeps --------------------------------------------------------------------
def test_first_rows_and_first_per_class_keep_list_order():
    assert first_rows(5, 3).tolist() == [True, True, True, False, False]
    assert first_rows(2, 3).all()
    labels = ["a", "a", "b", "a", "b", "b", "c"]
    assert first_per_class(labels, 2).tolist() == [True, True, True, False, True, False, True]


def _det(ids, box_classes) -> DetRecords:
    """DET records of ``ids`` (record order) with one box per (image, class) of ``box_classes``."""
    images = pd.DataFrame({"image_id": ids, "index": np.arange(1, len(ids) + 1)})
    rows = [(i, w, 0.0, 0.0, 9.0, 9.0) for i, ws in zip(ids, box_classes) for w in ws]
    return DetRecords(images, pd.DataFrame(rows, columns=["image_id", "wnid", "x1", "y1", "x2", "y2"]))


def test_det_train_keeps_the_first_image_of_every_class_then_the_earliest_others():
    # record order lists class a's images first, as the union of train_1.txt, train_2.txt, ... does
    records = _det(list("pqrstuv"), [["a"], ["a"], [], ["a", "b"], ["a"], ["c"], ["b"]])
    # first N in record order (p, q, r) would keep class a alone; p, s and u are each the first of a class
    assert covering_first_rows(records.images, records.boxes, 3).tolist() == [1, 0, 0, 1, 0, 1, 0]
    assert covering_first_rows(records.images, records.boxes, 4).tolist() == [1, 1, 0, 1, 0, 1, 0]
    # fewer slots than classes: the classes whose first image comes first
    assert covering_first_rows(records.images, records.boxes, 2).tolist() == [1, 0, 0, 1, 0, 0, 0]
    assert covering_first_rows(records.images, records.boxes, 7).all()


def test_loc_cut_keeps_boxes_of_kept_images_only_and_reports_counts():
    images = pd.DataFrame({"image_id": ["x/1", "x/2", "y/1", "y/2", "y/3"], "wnid": list("xxyyy")})
    boxes = pd.DataFrame({"image_id": ["x/2", "y/1", "y/3"], "wnid": list("xyy"), "x1": 0, "y1": 0, "x2": 1, "y2": 1})
    kept, cut = cut_loc_records(LocRecords(images, boxes), "train", dict(loc_train_per_class=1))
    assert kept.images.image_id.tolist() == ["x/1", "y/1"] and kept.boxes.image_id.tolist() == ["y/1"]
    assert (cut.kept, cut.total, cut.key) == (2, 5, "loc_train_per_class")
    assert "kept 2 of 5" in cut.note() and kept.images.index.tolist() == [0, 1]
    same, cut = cut_loc_records(LocRecords(images, boxes), "val", dict(loc_train_per_class=1))
    assert same.images is images and cut is None          # no cap for val: the records as they were


def _halves() -> dict[str, DetRecords]:
    """val of 8 images (official indices 1..8), val2 = 1, 3, 4, 6 (its own order 6, 1, 4, 3), val1 =
    2, 5, 7; image 8 (blacklisted, say) is in neither half."""
    val = _det([f"v{i}" for i in range(1, 9)], [["a"]] * 8)
    def half(indices):
        part = val.images.set_index("index").loc[indices].reset_index()[["image_id", "index"]]
        return DetRecords(part, val.boxes[val.boxes.image_id.isin(part.image_id)].reset_index(drop=True))
    return {"val": val, "val1": half([2, 5, 7]), "val2": half([6, 1, 4, 3])}


def test_det_val_halves_keep_their_first_images_and_val_is_their_union():
    kept, cuts = cut_det_records(_halves(), dict(det_val=2))
    assert kept["val2"].images["index"].tolist() == [6, 1]           # its list's order, not val's
    assert kept["val1"].images["index"].tolist() == [2, 5]
    assert kept["val"].images["index"].tolist() == [1, 2, 5, 6]       # val order, nothing else
    assert set(kept["val"].boxes.image_id) == set(kept["val"].images.image_id)
    assert {s: (c.kept, c.total) for s, c in cuts.items()} == {"val": (4, 8), "val1": (2, 3), "val2": (2, 4)}


def test_det_val_cap_that_cuts_no_half_leaves_val_whole():
    records = _halves()
    kept, cuts = cut_det_records(records, dict(det_val=4))
    assert kept["val"].images is records["val"].images                # image 8, in no half, stays
    assert {s: (c.kept, c.total) for s, c in cuts.items()} == {"val": (8, 8), "val1": (3, 3), "val2": (4, 4)}


def test_det_val_without_halves_keeps_its_first_images():
    records = {"val": _halves()["val"]}
    kept, _ = cut_det_records(records, dict(det_val=3))
    assert kept["val"].images["index"].tolist() == [1, 2, 3]


def test_the_paper_size_smoke_caps_cut_nothing_of_the_paper_size_preset():
    """The caps of configs/ilsvrc2015/paper_size_smoke.py are for a real ImageNet; the generated preset
    that tests/integration/test_paper_size_smoke.py runs must keep every image (each half of DET val is at most val)."""
    from collections import Counter
    from pathlib import Path

    from mmengine.config import Config

    from ilsvrc_pipe.synthetic.plan import plan_dataset

    config = Path(__file__).resolve().parents[2] / "configs" / "ilsvrc2015" / "paper_size_smoke.py"
    caps = image_caps(Config.fromfile(config).data)
    assert set(caps) == set(CAP_KEYS)
    plan = plan_dataset("paper_size", 0)
    count = {split: len(plan.by_split(split)) for split in ("cls_val", "cls_test", "det_train", "det_val", "det_test")}
    assert caps["loc_train_per_class"] >= max(Counter(j.folder for j in plan.by_split("cls_train")).values())
    for key, split in (("loc_val", "cls_val"), ("loc_test", "cls_test"), ("det_train", "det_train"),
                       ("det_val", "det_val"), ("det_test", "det_test")):
        assert caps[key] >= count[split], key

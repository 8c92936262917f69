"""CLS-LOC records from the ILSVRC tree, and from the Kaggle CSVs alone; the real layouts' traps."""
import shutil

import numpy as np
import pandas as pd
import pytest

from ilsvrc_pipe.data.loc_records import (load_loc_records, mean_relative_box_size, read_image_set,
                                          read_kaggle_solution)
from ilsvrc_pipe.data.synsets import find_clsloc_synsets
from ilsvrc_pipe.utils.errors import DataFormatError


def test_tree_records(smoke_root):
    syn = find_clsloc_synsets(smoke_root)
    train = load_loc_records(smoke_root, "train", syn)
    # train images without XML keep their folder label; only some have boxes
    assert (train.images.wnid == train.images.image_id.str.split("/").str[0]).all()
    assert 0 < (train.images.n_boxes > 0).sum() < len(train.images)
    assert train.boxes.x1.dtype == np.float64
    assert (train.images.label == [syn.index_of(w) for w in train.images.wnid]).all()
    val = load_loc_records(smoke_root, "val", syn)
    assert list(val.images["index"]) == list(range(1, len(val.images) + 1))
    assert (val.images.n_boxes >= 1).all() and (val.images.width > 0).all()
    # val labels come from the devkit ids of the ground-truth file, through the synset table
    gt = (smoke_root / "ILSVRC/devkit/data/ILSVRC2015_clsloc_validation_ground_truth.txt").read_text().split()
    assert list(val.images.wnid) == [syn.wnid_of_id(int(i)) for i in gt]
    first_box_class = val.boxes.drop_duplicates("image_id").set_index("image_id").wnid
    assert (val.images.set_index("image_id").wnid == first_box_class).all()
    bl = [int(x) for x in (smoke_root / "ILSVRC/devkit/data/ILSVRC2015_clsloc_validation_blacklist.txt").read_text().split()]
    assert sorted(val.images[val.images.blacklisted]["index"]) == sorted(bl)
    test = load_loc_records(smoke_root, "test", syn)
    assert (test.images.label == -1).all() and len(test.boxes) == 0


def test_kaggle_only_root(smoke_root, tmp_path):
    """A Kaggle download without Annotations/ or devkit: labels and boxes from the CSVs."""
    root = tmp_path / "kaggle"
    shutil.copytree(smoke_root / "ILSVRC/Data", root / "ILSVRC/Data")
    for f in ("LOC_synset_mapping.txt", "LOC_train_solution.csv", "LOC_val_solution.csv"):
        shutil.copy(smoke_root / f, root / f)
    syn = find_clsloc_synsets(root)
    assert syn.wnids == syn.sorted_wnids  # Kaggle mapping is in sorted order
    val = load_loc_records(root, "val", syn)
    ref = load_loc_records(smoke_root, "val")
    assert list(val.images.wnid) == list(ref.images.wnid)
    key = ["image_id", "x1", "y1", "x2", "y2"]
    pd.testing.assert_frame_equal(val.boxes.sort_values(key).reset_index(drop=True)[key],
                                  ref.boxes.sort_values(key).reset_index(drop=True)[key])
    train = load_loc_records(root, "train", syn)
    assert len(train.images) == len(load_loc_records(smoke_root, "train").images)


def test_kaggle_solution_errors(tmp_path):
    p = tmp_path / "LOC_val_solution.csv"
    p.write_text("ImageId,PredictionString\nA,n01 1 2 3 4 n02 5 6 7 8\nB,n01 1 2 3\n")
    with pytest.raises(DataFormatError, match=r"LOC_val_solution.csv:3"):
        read_kaggle_solution(p)
    p.write_text("ImageId,PredictionString\nA,n01 1 2 3 4 n02 5 6 7 8\n")
    assert len(read_kaggle_solution(p)) == 2


def test_image_set_errors(tmp_path):
    p = tmp_path / "val.txt"
    p.write_text("ILSVRC2012_val_00000001 1\nILSVRC2012_val_00000002\n")
    with pytest.raises(DataFormatError, match=r"val.txt:2: expected '<image stem> <index>'"):
        read_image_set(p)
    p.write_text("ILSVRC2012_val_00000001 1\nILSVRC2012_val_00000002 x\n")
    with pytest.raises(DataFormatError, match=r"val.txt:2: expected an integer image index"):
        read_image_set(p)
    p.write_text("ILSVRC2012_val_00000001 1\nILSVRC2012_val_00000001 2\n")
    with pytest.raises(DataFormatError, match=r"val.txt:2: image ILSVRC2012_val_00000001 already listed on line 1"):
        read_image_set(p)


def test_mean_relative_box_size(smoke_root):
    rw, rh = mean_relative_box_size(load_loc_records(smoke_root, "train"))
    assert 0.2 < rw < 1 and 0.2 < rh < 1

"""Devkit ``.mat`` class lists in the real layouts, generated here with scipy (nothing downloaded).

* ``meta_det.mat`` (2013-2015 devkits): 815 synsets, the 200 classes ids 1..200 (several WITH
  children), then 488 labeled descendants and 127 ancestors up to 'entity'; fields
  ``ILSVRC201x_DET_ID, WNID, name, description, num_children, children`` (MATLAB doubles).
* 2012 ``meta.mat`` / ``meta_clsloc.mat``: 1860 synsets, the 1000 leaf classes ids 1..1000, then 860
  ancestors; fields ``ILSVRC2012_ID, WNID, words, gloss, num_children, children, wordnet_height,
  num_train_images``.

The DET file must score exactly like the ``map_det.txt`` that lists the same classes.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.io

from ilsvrc_pipe.data.errors import DataFormatError
from ilsvrc_pipe.data.synsets import read_synsets
from ilsvrc_pipe.evaluation.det import evaluate_det
from ilsvrc_pipe.evaluation.ground_truth import load_det_ground_truth
from ilsvrc_pipe.submission.det_file import read_det_file

DET_FIELDS = ["{id}", "WNID", "name", "description", "num_children", "children"]
CLSLOC_FIELDS = ["{id}", "WNID", "words", "gloss", "num_children", "children", "wordnet_height", "num_train_images"]


def _ids(values) -> np.ndarray:
    """A MATLAB row vector of doubles; ``[]`` is 0x0, as MATLAB saves an empty children list."""
    return np.asarray(values, dtype=np.float64).reshape(1, -1) if len(values) else np.zeros((0, 0))


def _save(path, fields, rows):
    arr = np.zeros((1, len(rows)), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        for f, value in zip(fields, row):
            arr[0, i][f] = value
    scipy.io.savemat(str(path), {"synsets": arr})
    return path


def write_meta_det(path, classes, id_field="ILSVRC2014_DET_ID", mixed_ids=False, seed=0):
    """815-row ``meta_det.mat``: ``classes`` = 200 (wnid, name) in id order.

    488 descendants hang below 40 of the classes (some two levels deep); 127 ancestors form a tree
    above all classes, rooted at 'entity'. ``mixed_ids`` interleaves descendant and ancestor ids
    (entity at 545) instead of listing descendants first."""
    assert len(classes) == 200
    rng = np.random.default_rng(seed)
    n_desc, n_anc = 488, 127
    other_ids = np.arange(201, 816)
    if mixed_ids:
        other_ids = rng.permutation(other_ids[other_ids != 545])
        anc_ids = [545] + other_ids[:n_anc - 1].tolist()
        desc_ids = other_ids[n_anc - 1:].tolist()
    else:
        desc_ids, anc_ids = other_ids[:n_desc].tolist(), other_ids[n_desc:][::-1].tolist()  # root last
    children = {i: [] for i in range(1, 816)}
    parents_with_kids = list(range(3, 200, 5))  # 40 classes with children
    for k, d in enumerate(desc_ids):
        parent = parents_with_kids[k % 40] if k < 300 else desc_ids[k - 300]  # deeper levels too
        children[parent].append(d)
    for k, a in enumerate(anc_ids[1:], 1):  # ancestors: a tree under the root
        children[anc_ids[(k - 1) // 4]].append(a)
    for c in range(1, 201):  # every class under some ancestor
        children[anc_ids[c % n_anc]].append(c)
    wnid = {i: (classes[i - 1][0] if i <= 200 else f"n9{i:07d}") for i in range(1, 816)}
    name = {i: (classes[i - 1][1] if i <= 200 else f"synset {i}") for i in range(1, 816)}
    name[anc_ids[0]], wnid[anc_ids[0]] = "entity", "n00001740"
    fields = [f.format(id=id_field) for f in DET_FIELDS]
    rows = [(float(i), wnid[i], name[i], f"gloss of {name[i]}", float(len(children[i])), _ids(children[i]))
            for i in range(1, 816)]
    return _save(path, fields, rows)


def write_meta_clsloc(path, wnids, id_field="ILSVRC2012_ID"):
    """1860-row 2012-style ``meta.mat``: 1000 leaf classes ids 1..1000, 860 ancestors 1001..1860."""
    assert len(wnids) == 1000
    children = {i: [] for i in range(1, 1861)}
    for k, a in enumerate(range(1002, 1861)):  # ancestors: a tree under 1001
        children[1001 + k // 3].append(a)
    for c in range(1, 1001):
        children[1001 + c % 860].append(c)
    fields = [f.format(id=id_field) for f in CLSLOC_FIELDS]
    rows = [(float(i), wnids[i - 1] if i <= 1000 else f"n8{i:07d}", f"words {i}", "gloss", float(len(children[i])),
             _ids(children[i]), 0.0 if i <= 1000 else 1.0, 1300.0 if i <= 1000 else 0.0) for i in range(1, 1861)]
    return _save(path, fields, rows)


def _det_classes(n=200):
    return [(f"n7{i:07d}", f"class {i}") for i in range(1, n + 1)]


@pytest.mark.parametrize("id_field", ["ILSVRC2013_DET_ID", "ILSVRC2014_DET_ID", "ILSVRC2015_DET_ID"])
@pytest.mark.parametrize("mixed_ids", [False, True])
def test_real_layout_meta_det_gives_the_200_classes(tmp_path, id_field, mixed_ids):
    classes = _det_classes()
    path = write_meta_det(tmp_path / "meta_det.mat", classes, id_field, mixed_ids)
    raw = scipy.io.loadmat(str(path), squeeze_me=True)["synsets"]
    assert raw.shape == (815,) and raw.dtype.names[0] == id_field
    assert int(raw[2]["num_children"]) > 0  # class 3 has children: "keep the leaves" would drop it
    table = read_synsets(path)
    assert table.wnids == tuple(w for w, _ in classes)
    assert table.name_of(classes[2][0]) == "class 3" and table.id_of(classes[199][0]) == 200


@pytest.mark.parametrize("id_field", ["ILSVRC2012_ID", "ILSVRC2015_CLSLOC_ID"])
def test_real_layout_meta_clsloc_keeps_the_1000_leaves(tmp_path, id_field):
    wnids = [f"n6{i:07d}" for i in range(1000, 0, -1)]  # devkit order is not sorted order
    table = read_synsets(write_meta_clsloc(tmp_path / "meta_clsloc.mat", wnids, id_field))
    assert table.wnids == tuple(wnids)
    assert table.id_of(wnids[0]) == 1 and table.index_of(wnids[0]) == 999


def test_synset_outside_the_hierarchy_is_an_error(tmp_path):
    fields = [f.format(id="ILSVRC2014_DET_ID") for f in DET_FIELDS]
    rows = [(1.0, "n01", "a", "", 1.0, _ids([3])), (2.0, "n02", "b", "", 0.0, _ids([])),
            (3.0, "n03", "a child", "", 0.0, _ids([])), (5.0, "n05", "stray", "", 0.0, _ids([]))]
    with pytest.raises(DataFormatError, match=r"meta_det.mat: .*n05 \(id 5\).*ids 1\.\.2"):
        read_synsets(_save(tmp_path / "meta_det.mat", fields, rows))


def test_children_that_are_not_synsets_are_an_error(tmp_path):
    fields = [f.format(id="ILSVRC2014_DET_ID") for f in DET_FIELDS]
    rows = [(1.0, "n01", "a", "", 1.0, _ids([9])), (2.0, "n02", "b", "", 0.0, _ids([]))]
    with pytest.raises(DataFormatError, match=r"meta_det.mat: synset id 1: children \[9\]"):
        read_synsets(_save(tmp_path / "meta_det.mat", fields, rows))


def test_meta_det_scores_exactly_like_its_map_det(tmp_path, scoring_fixture):
    """The fixture's 20 classes as ids 1..20 of a 200-class devkit, permuted, some with children."""
    fixture = read_synsets(scoring_fixture / "synsets.txt")
    perm = np.random.default_rng(3).permutation(20) + 1      # fixture id i -> devkit id perm[i - 1]
    classes = _det_classes()
    for i, wnid in enumerate(fixture.wnids, 1):
        classes[perm[i - 1] - 1] = (wnid, f"fixture {wnid}")
    meta = write_meta_det(tmp_path / "meta_det.mat", classes, "ILSVRC2015_DET_ID", mixed_ids=True)
    map_det = tmp_path / "map_det.txt"
    map_det.write_text("".join(f"{w} {i} {n.replace(' ', '_')}\n" for i, (w, n) in enumerate(classes, 1)))
    pred = pd.read_csv(scoring_fixture / "det/pred.txt", sep=r"\s+", header=None, dtype=str)
    pred[1] = [str(perm[int(c) - 1]) for c in pred[1]]
    pred_path = tmp_path / "pred.txt"
    pred_path.write_text("".join(" ".join(row) + "\n" for row in pred.itertuples(index=False)))

    results = {}
    for source in (meta, map_det):
        synsets = read_synsets(source)
        gt = load_det_ground_truth(scoring_fixture / "det/Annotations", synsets, scoring_fixture / "det/val.txt",
                                   scoring_fixture / "det/blacklist.txt")
        detections = read_det_file(pred_path, num_classes=len(synsets), image_indices=gt.image_index)
        results[source.name] = evaluate_det(detections, gt)
    from_meta, from_map = results["meta_det.mat"], results["map_det.txt"]
    assert from_meta["ap"] == from_map["ap"] and from_meta["mAP"] == from_map["mAP"]
    expected = json.loads((scoring_fixture / "expected.json").read_text())["det"]
    for fixture_id, ap in expected["ap"].items():
        assert from_meta["ap"][int(perm[int(fixture_id) - 1])] == pytest.approx(ap, abs=1e-9)
    assert from_meta["mAP"] == pytest.approx(expected["mAP"], abs=1e-9)

"""The devkit ``.mat`` reader: the real ILSVRC2014 devkit files, the id field under each of its names,
and one clear error per file that breaks the devkit's documented format.

The format, from the devkit readmes: a ``synsets`` struct array with a WNID and an integer id per
synset; DET classes are ids 1..200 and CLS-LOC classes ids 1..1000 (in a hierarchical CLS-LOC file
exactly the leaves); ids above that range are WordNet synsets that are not classes. Beside the real
files, full-size files of both layouts are generated here with scipy (nothing downloaded): a
``meta_det.mat`` of 815 synsets must score exactly like the ``map_det.txt`` of the same classes.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io

from ilsvrc_pipe.data.synsets import read_synsets
from ilsvrc_pipe.data.synsets_mat import CLSLOC_ID_FIELDS, DET_ID_FIELDS, read_mat_synsets
from ilsvrc_pipe.evaluation.det import evaluate_det
from ilsvrc_pipe.evaluation.ground_truth import load_det_ground_truth
from ilsvrc_pipe.submission.det_file import read_det_file
from ilsvrc_pipe.utils.errors import DataFormatError

DET_FIELDS = ["{id}", "WNID", "name", "description", "num_children", "children"]
CLSLOC_FIELDS = ["{id}", "WNID", "words", "gloss", "num_children", "children", "wordnet_height", "num_train_images"]

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_devkit"


def _raw(path: Path) -> np.ndarray:
    return scipy.io.loadmat(str(path), squeeze_me=True)["synsets"]


def _ids(values) -> np.ndarray:
    """A MATLAB row vector of doubles; ``[]`` is 0x0, as MATLAB saves an empty children list."""
    return np.asarray(values, dtype=np.float64).reshape(1, -1) if len(values) else np.zeros((0, 0))


def _save(path: Path, fields, rows) -> Path:
    arr = np.zeros((1, len(rows)), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        for f, value in zip(fields, row):
            arr[0, i][f] = value
    scipy.io.savemat(str(path), {"synsets": arr})
    return path


# -- the real devkit files ------------------------------------------------------------------------
def test_real_meta_det_reads_the_200_classes_and_maps_all_815_wnids():
    raw = _raw(REAL / "meta_det.mat")
    table = read_synsets(REAL / "meta_det.mat")
    assert len(raw) == 815 and len(table) == 200
    assert table.wnid_of_id(1) == "n02672831" and table.name_of("n02672831") == "accordion"
    assert table.wnids == tuple(str(s["WNID"]) for s in raw[:200])
    assert [int(s["ILSVRC2013_DET_ID"]) for s in raw[:200]] == list(range(1, 201))
    assert all(table.synset_id_of(str(s["WNID"])) == int(s["ILSVRC2013_DET_ID"]) for s in raw)
    assert "n02100735" not in table and table.synset_id_of("n02100735") == 202  # linked to no class
    meta = read_mat_synsets(REAL / "meta_det.mat")
    assert meta.task == "det" and meta.id_field == "ILSVRC2013_DET_ID" and len(meta.synset_ids) == 815


def test_real_meta_clsloc_reads_the_1000_leaves_and_maps_all_1860_wnids():
    raw = _raw(REAL / "meta_clsloc.mat")
    table = read_synsets(REAL / "meta_clsloc.mat")
    assert len(raw) == 1860 and len(table) == 1000
    assert table.wnid_of_id(1) == "n02119789" and table.wnid_of_id(2) == "n02100735"
    assert table.wnid_of_id(1000) == "n03255030" and table.name_of("n03255030") == "dumbbell"
    assert all(table.synset_id_of(str(s["WNID"])) == int(s["ILSVRC2014_ID"]) for s in raw)
    assert "n00001740" not in table and table.synset_id_of("n00001740") == 1001  # entity
    assert read_mat_synsets(REAL / "meta_clsloc.mat").task == "clsloc"


# -- the id field under each of its names ---------------------------------------------------------
DET_ROWS = [(1, "n03000001", "one"), (2, "n03000002", "two"), (3, "n03000003", "three")]


@pytest.mark.parametrize("id_field", DET_ID_FIELDS)
def test_det_id_field_reads_the_same_under_each_name(tmp_path, id_field):
    """The 2015 flat layout and the 2013/2014 one with 'children' and synsets past id 200."""
    flat = _save(tmp_path / "flat.mat", [id_field, "WNID", "name", "description"],
                 [(float(i), w, n, "d") for i, w, n in DET_ROWS])
    rows = [(float(i), w, n, "d", _ids([201] if i == 1 else [])) for i, w, n in DET_ROWS]
    rows += [(201.0, "n09000201", "below one", "d", _ids([])), (202.0, "n09000202", "stray", "d", _ids([])),
             (203.0, "n00001740", "entity", "d", _ids([1, 2]))]
    tree = _save(tmp_path / "tree.mat", [id_field, "WNID", "name", "description", "children"], rows)
    for path in (flat, tree):
        table = read_synsets(path)
        assert table.wnids == tuple(w for _, w, _ in DET_ROWS) and table.names == ("one", "two", "three")
        assert read_mat_synsets(path).task == "det"
    assert read_synsets(tree).synset_id_of("n09000202") == 202


@pytest.mark.parametrize("id_field", CLSLOC_ID_FIELDS)
def test_clsloc_id_field_reads_the_same_under_each_name(tmp_path, id_field):
    """The 2015 flat layout and the 2012-2014 one whose classes are the leaves, ancestors past 1000."""
    wnids = ["n02119789", "n02100735", "n01440764"]
    flat = _save(tmp_path / "flat.mat", [id_field, "WNID", "name", "description", "num_train_images"],
                 [(float(i), w, f"c{i}", "d", 10.0) for i, w in enumerate(wnids, 1)])
    rows = [(float(i), w, f"c{i}", "g", 0.0, _ids([])) for i, w in enumerate(wnids, 1)]
    rows += [(1001.0, "n00001740", "entity", "g", 1.0, _ids([1002])),
             (1002.0, "n00002000", "thing", "g", 3.0, _ids([1, 2, 3]))]
    tree = _save(tmp_path / "tree.mat", [id_field, "WNID", "words", "gloss", "num_children", "children"], rows)
    for path in (flat, tree):
        table = read_synsets(path)
        assert table.wnids == tuple(wnids) and table.names == ("c1", "c2", "c3")
        assert read_mat_synsets(path).task == "clsloc"
    assert read_synsets(tree).synset_id_of("n00002000") == 1002


# -- malformed files: one line naming the file -----------------------------------------------------
def _flat(tmp_path, ids, field="ILSVRC2015_DET_ID", name="meta_det.mat"):
    """A 2015-style file without hierarchy: one synset per id."""
    rows = [(float(i), f"n03{k:06d}", f"c{k}") for k, i in enumerate(ids)]
    return _save(tmp_path / name, [field, "WNID", "name"], rows)


def test_no_synsets_variable(tmp_path):
    scipy.io.savemat(str(tmp_path / "meta_det.mat"), {"classes": np.arange(3.0)})
    with pytest.raises(DataFormatError, match=r"meta_det\.mat: expected a variable 'synsets'.*\['classes'\]"):
        read_synsets(tmp_path / "meta_det.mat")


def test_no_wnid_field(tmp_path):
    path = _save(tmp_path / "meta_det.mat", ["ILSVRC2015_DET_ID", "name"], [(1.0, "a")])
    with pytest.raises(DataFormatError, match=r"meta_det\.mat: 'synsets' must be a struct array with a WNID field"):
        read_synsets(path)


def test_no_id_field(tmp_path):
    path = _save(tmp_path / "meta_det.mat", ["WNID", "name"], [("n03000001", "a")])
    with pytest.raises(DataFormatError, match=r"meta_det\.mat: expected one id field .*ILSVRC2015_DET_ID.*"
                                              r"ILSVRC2015_CLSLOC_ID.*fields: \('WNID', 'name'\)"):
        read_synsets(path)


def test_two_id_fields(tmp_path):
    path = _save(tmp_path / "meta.mat", ["ILSVRC2014_DET_ID", "ILSVRC2012_ID", "WNID"], [(1.0, 1.0, "n03000001")])
    with pytest.raises(DataFormatError, match=r"meta\.mat: expected one id field .*found 2"):
        read_synsets(path)


def test_repeated_ids(tmp_path):
    with pytest.raises(DataFormatError, match=r"meta_det\.mat: ILSVRC2015_DET_ID ids must be unique.*\[2\]"):
        read_synsets(_flat(tmp_path, [1, 2, 2]))


def test_repeated_wnids(tmp_path):
    path = _save(tmp_path / "meta_det.mat", ["ILSVRC2015_DET_ID", "WNID"], [(1.0, "n03000001"), (2.0, "n03000001")])
    with pytest.raises(DataFormatError, match=r"meta_det\.mat: a WNID identifies one synset.*n03000001"):
        read_synsets(path)


@pytest.mark.parametrize("value, expected", [(0.0, "expected an id >= 1, got 0"),
                                             (1.5, "expected an integer, got 1.5")])
def test_ids_that_are_not_positive_integers(tmp_path, value, expected):
    with pytest.raises(DataFormatError, match=rf"meta_det\.mat: synset 2 .*{expected}"):
        read_synsets(_flat(tmp_path, [1, value]))


def test_class_ids_not_contiguous_from_1(tmp_path):
    pattern = r"meta_det\.mat: the DET classes .* must be ids 1\.\.{} .*id {} is missing"
    with pytest.raises(DataFormatError, match=pattern.format(3, 3)):
        read_synsets(_flat(tmp_path, [1, 2, 4]))
    fields = ["ILSVRC2014_DET_ID", "WNID", "name", "children"]
    rows = [(float(i), f"n03{i:06d}", "c", _ids([])) for i in (2, 3, 201)]
    with pytest.raises(DataFormatError, match=pattern.format(2, 1)):
        read_synsets(_save(tmp_path / "meta_det.mat", fields, rows))


def test_no_class_id_in_the_task_range(tmp_path):
    fields = ["ILSVRC2014_DET_ID", "WNID", "name", "children"]
    rows = [(float(i), f"n03{i:06d}", "c", _ids([])) for i in (201, 202)]
    with pytest.raises(DataFormatError, match=r"meta_det\.mat: no DET class: no synset has an id in 1\.\.200"):
        read_synsets(_save(tmp_path / "meta_det.mat", fields, rows))


@pytest.mark.parametrize("field, limit", [("ILSVRC2015_DET_ID", 200), ("ILSVRC2015_CLSLOC_ID", 1000)])
def test_more_classes_than_the_task_has(tmp_path, field, limit):
    """A file without a hierarchy lists only classes, so every id must lie in the task's range."""
    path = _flat(tmp_path, range(1, limit + 2), field, "classes.mat")
    with pytest.raises(DataFormatError, match=rf"classes\.mat: {limit + 1} classes .* at most {limit}"):
        read_synsets(path)


def test_clsloc_class_with_children(tmp_path):
    """The CLS-LOC classes (ids 1..1000) are the leaves of the hierarchy (2012 readme)."""
    fields = ["ILSVRC2012_ID", "WNID", "words", "num_children", "children"]
    rows = [(1.0, "n03000001", "a", 0.0, _ids([])), (2.0, "n03000002", "b", 1.0, _ids([1])),
            (1001.0, "n00001740", "entity", 1.0, _ids([2]))]
    pattern = r"meta\.mat: .*classes .* are the leaves.*id 2 \(n03000002\) has children"
    with pytest.raises(DataFormatError, match=pattern):
        read_synsets(_save(tmp_path / "meta.mat", fields, rows))


def test_clsloc_leaf_past_the_classes(tmp_path):
    fields = ["ILSVRC2012_ID", "WNID", "words", "num_children", "children"]
    rows = [(1.0, "n03000001", "a", 0.0, _ids([])), (1001.0, "n00001740", "entity", 1.0, _ids([1])),
            (1002.0, "n00002000", "orphan", 0.0, _ids([]))]
    with pytest.raises(DataFormatError, match=r"meta\.mat: .*leaves.*id 1002 \(n00002000\) is a leaf"):
        read_synsets(_save(tmp_path / "meta.mat", fields, rows))


def test_clsloc_leaves_from_num_children_alone(tmp_path):
    fields = ["ILSVRC2012_ID", "WNID", "words", "num_children"]
    rows = [(1.0, "n03000001", "a", 0.0), (2.0, "n03000002", "b", 0.0), (1001.0, "n00001740", "entity", 2.0)]
    assert read_synsets(_save(tmp_path / "meta.mat", fields, rows)).wnids == ("n03000001", "n03000002")
    rows[1] = (2.0, "n03000002", "b", 3.0)
    with pytest.raises(DataFormatError, match=r"meta\.mat: .*id 2 \(n03000002\) has children"):
        read_synsets(_save(tmp_path / "meta.mat", fields, rows))


# -- full-size generated files of both layouts ---------------------------------------------------
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


@pytest.mark.parametrize("id_field", ["ILSVRC2012_ID", "ILSVRC2014_ID", "ILSVRC2015_ID", "ILSVRC2015_CLSLOC_ID"])
def test_real_layout_meta_clsloc_keeps_the_1000_leaves(tmp_path, id_field):
    wnids = [f"n6{i:07d}" for i in range(1000, 0, -1)]  # devkit order is not sorted order
    table = read_synsets(write_meta_clsloc(tmp_path / "meta_clsloc.mat", wnids, id_field))
    assert table.wnids == tuple(wnids)
    assert table.id_of(wnids[0]) == 1 and table.index_of(wnids[0]) == 999


def test_synsets_past_the_classes_need_no_link_to_a_class(tmp_path):
    """The real file's 'children' links are a trimmed hierarchy: 242 of its 615 synsets past the 200
    classes hang above or below no class (e.g. id 202, English setter). They are read, not rejected."""
    fields = [f.format(id="ILSVRC2014_DET_ID") for f in DET_FIELDS]
    rows = [(1.0, "n01", "a", "", 1.0, _ids([201])), (2.0, "n02", "b", "", 0.0, _ids([])),
            (201.0, "n0201", "a child", "", 0.0, _ids([])), (202.0, "n0202", "stray", "", 0.0, _ids([]))]
    table = read_synsets(_save(tmp_path / "meta_det.mat", fields, rows))
    assert table.wnids == ("n01", "n02") and table.synset_id_of("n0202") == 202


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

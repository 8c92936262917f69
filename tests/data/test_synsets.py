"""Class maps: devkit ids vs sorted indices, every reader, and clear errors."""
import numpy as np
import pytest
import scipy.io

from ilsvrc_pipe.data.synsets import SynsetTable, read_synsets
from ilsvrc_pipe.utils.errors import DataFormatError

WNIDS = ["n02119789", "n02100735", "n01440764", "n03255030"]  # devkit order, not sorted


def _write_map(path, wnids):
    path.write_text("".join(f"{w} {i} name_{i}\n" for i, w in enumerate(wnids, 1)))
    return path


def test_devkit_ids_and_sorted_indices_differ(tmp_path):
    t = read_synsets(_write_map(tmp_path / "map_clsloc.txt", WNIDS))
    assert t.id_of("n02119789") == 1 and t.index_of("n02119789") == 2
    assert t.id_of("n01440764") == 3 and t.index_of("n01440764") == 0
    assert t.wnid_of_id(4) == "n03255030" and t.wnid_of_index(3) == "n03255030"
    ids = np.arange(1, 5)
    assert list(t.indices_to_ids(t.ids_to_indices(ids))) == list(ids)
    assert list(t.ids_to_indices(ids)) == [2, 1, 0, 3]


def test_map_file_lines_in_any_order(tmp_path):
    p = tmp_path / "map.txt"
    p.write_text("n01440764 3 tench\nn02119789 1 kit_fox\nn02100735 2 setter\n")
    assert read_synsets(p).wnids == ("n02119789", "n02100735", "n01440764")


def test_list_file_line_is_id(tmp_path):
    p = tmp_path / "LOC_synset_mapping.txt"
    p.write_text("n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n")
    t = read_synsets(p)
    assert t.id_of("n01443537") == 2 and t.name_of("n01440764") == "tench, Tinca tinca"


def test_bad_lines_name_file_and_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("n01440764 1 a\nxyz 2 b\n")
    with pytest.raises(DataFormatError, match=r"bad.txt:2"):
        read_synsets(p)
    p.write_text("n01440764 1 a\nn01443537 3 b\n")
    with pytest.raises(DataFormatError, match="1..2"):
        read_synsets(p)


def _struct(rows, fields):
    arr = np.zeros((len(rows),), dtype=[(f, object) for f in fields])
    for i, r in enumerate(rows):
        for f, v in zip(fields, r):
            arr[i][f] = v
    return arr


def test_meta_clsloc_mat_2015(tmp_path):
    fields = ["ILSVRC2015_CLSLOC_ID", "WNID", "name", "description", "num_train_images"]
    rows = [(i, w, f"c{i}", "d", 10) for i, w in enumerate(WNIDS, 1)]
    scipy.io.savemat(tmp_path / "meta_clsloc.mat", {"synsets": _struct(rows, fields)})
    assert read_synsets(tmp_path / "meta_clsloc.mat").wnids == tuple(WNIDS)


def test_meta_mat_2012_keeps_leaves_only(tmp_path):
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height",
              "num_train_images"]
    rows = [(i, w, f"c{i}", "g", 0, np.zeros(0), 0, 10) for i, w in enumerate(WNIDS, 1)]
    rows.append((1001, "n00001740", "entity", "g", 2, np.array([1, 2]), 5, 0))  # past the 1000 class ids
    scipy.io.savemat(tmp_path / "meta.mat", {"synsets": _struct(rows, fields)})
    t = read_synsets(tmp_path / "meta.mat")
    assert t.wnids == tuple(WNIDS) and "n00001740" not in t
    assert t.synset_id_of("n00001740") == 1001 and t.synset_id_of(WNIDS[3]) == 4


def test_synset_ids_beside_the_classes():
    """Every synset's id of a devkit .mat; a class-only table answers with the class ids."""
    import pickle

    t = SynsetTable(("n03", "n01"), ("c", "a"), "meta_det.mat", {"n03": 1, "n01": 2, "n09": 201})
    assert t.synset_id_of("n09") == 201 and t.synset_id_of("n01") == 2 and "n09" not in t
    assert pickle.loads(pickle.dumps(t)).synset_id_of("n09") == 201
    assert t.subset(["n01"]).synset_id_of("n01") == 1  # renumbered: the file's ids no longer apply
    with pytest.raises(KeyError, match="n07"):
        t.synset_id_of("n07")
    assert SynsetTable(("n03", "n01"), ("c", "a")).synset_id_of("n01") == 2
    with pytest.raises(ValueError, match="each class its devkit id"):
        SynsetTable(("n03", "n01"), ("c", "a"), "x", {"n03": 2, "n01": 1})


def test_fixture_synsets(scoring_fixture):
    t = read_synsets(scoring_fixture / "synsets.txt")
    assert len(t) == 20 and t.id_of("n02171761") == 1


def test_detection_labels_are_sorted_index_plus_one():
    t = SynsetTable(("n03", "n01", "n02"), ("c", "a", "b"))   # devkit order is not sorted order
    assert [t.detection_label_of(w) for w in ("n01", "n02", "n03")] == [1, 2, 3]
    assert t.wnid_of_detection_label(3) == "n03"
    assert t.detection_labels_to_ids([1, 2, 3]).tolist() == [2, 3, 1]
    with pytest.raises(KeyError):
        t.wnid_of_detection_label(0)

"""Fixtures of the evaluation tests: the official answers of the scoring fixture and a small ILSVRC tree
(``scoring_fixture`` and ``write_xml`` live in ``tests/conftest.py``)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def expected(scoring_fixture) -> dict:
    return json.loads((scoring_fixture / "expected.json").read_text())


@pytest.fixture
def data_root(tmp_path, write_xml) -> Path:
    """A small ILSVRC tree with CLS-LOC and DET validation ground truth (devkit ids differ between tasks)."""
    A, B, BOX = "n01440764", "n01443537", [0, 0, 99, 99]
    ilsvrc = tmp_path / "root" / "ILSVRC"
    dk = ilsvrc / "devkit" / "data"
    (dk / "det_lists").mkdir(parents=True)
    (dk / "map_clsloc.txt").write_text(f"{B} 1 goldfish\n{A} 2 tench\n")
    (dk / "map_det.txt").write_text(f"{A} 1 tench\n{B} 2 goldfish\n")
    (dk / "ILSVRC2014_clsloc_validation_blacklist.txt").write_text("2\n")
    (dk / "ILSVRC2015_det_validation_blacklist.txt").write_text(f"3 {B}\n")
    for i, wnid in enumerate([A, B, A], 1):
        write_xml(ilsvrc / "Annotations" / "CLS-LOC" / "val", f"ILSVRC2012_val_{i:08d}", [(wnid, BOX)])
    stems = ["ILSVRC2012_val_00000001", "ILSVRC2013_val_00000002", "ILSVRC2012_val_00000003", "ILSVRC2013_val_00000004"]
    for stem, objects in zip(stems, [[(A, BOX)], [(A, BOX), (B, BOX)], [(B, BOX)], []]):
        write_xml(ilsvrc / "Annotations" / "DET" / "val", stem, objects)
    (ilsvrc / "ImageSets" / "DET").mkdir(parents=True)
    (ilsvrc / "ImageSets" / "DET" / "val.txt").write_text("".join(f"{s} {i}\n" for i, s in enumerate(stems, 1)))
    (dk / "det_lists" / "val1.txt").write_text(f"{stems[0]} 1\n{stems[2]} 2\n")
    (dk / "det_lists" / "val2.txt").write_text(f"{stems[1]} 1\n{stems[3]} 2\n")
    return tmp_path / "root"

"""generate.py: the layout on disk, same bytes for the same seed, atomic writes, generate on first use."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ilsvrc_pipe.synthetic import generate
from ilsvrc_pipe.synthetic.plan import PRESETS

PRESET, SEED = "smoke", 0


def lines(path: Path) -> list[list[str]]:
    return [ln.split() for ln in path.read_text().splitlines() if ln.strip()]


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# -- layout -------------------------------------------------------------------------------------
def test_layout_files_exist(root):
    il = root / "ILSVRC"
    for rel in ["ImageSets/CLS-LOC/train_cls.txt", "ImageSets/CLS-LOC/train_loc.txt", "ImageSets/CLS-LOC/val.txt",
                "ImageSets/CLS-LOC/test.txt", "ImageSets/DET/val.txt", "ImageSets/DET/test.txt",
                "devkit/data/map_clsloc.txt", "devkit/data/meta_clsloc.mat", "devkit/data/map_det.txt",
                "devkit/data/meta_det.mat", "devkit/data/ILSVRC2015_clsloc_validation_ground_truth.txt",
                "devkit/data/ILSVRC2015_clsloc_validation_blacklist.txt",
                "devkit/data/ILSVRC2015_det_validation_blacklist.txt", "devkit/data/det_lists/val1.txt",
                "devkit/data/det_lists/val2.txt"]:
        assert (il / rel).is_file(), rel
    for rel in ["LOC_synset_mapping.txt", "LOC_train_solution.csv", "LOC_val_solution.csv",
                "LOC_sample_submission.csv", "traps.json", generate.MARKER]:
        assert (root / rel).is_file(), rel
    cfg = PRESETS[PRESET]
    n_det = len(lines(il / "devkit/data/map_det.txt"))
    assert n_det == cfg["det_classes"]
    assert sorted(p.name for p in (il / "ImageSets/DET").glob("train_*.txt")) == sorted(
        f"train_{k}.txt" for k in range(1, n_det + 1))
    assert not list(root.parent.glob(".*tmp*")), "temp folder left behind"


# -- determinism and atomic writes ---------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_differs(root, tmp_path):
    again = generate.generate_mini_ilsvrc(tmp_path / "again", PRESET, SEED)
    assert file_hashes(again) == file_hashes(root)
    other = file_hashes(generate.generate_mini_ilsvrc(tmp_path / "other", PRESET, SEED + 1))
    first = file_hashes(root)
    assert other.keys() != first.keys()
    assert other["ILSVRC/devkit/data/meta_det.mat"] != first["ILSVRC/devkit/data/meta_det.mat"]


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    def boom(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "write_kaggle", boom)
    with pytest.raises(KeyboardInterrupt):
        generate.generate_mini_ilsvrc(tmp_path / "data", PRESET, SEED)
    assert list(tmp_path.iterdir()) == []


def test_ensure_generates_only_when_absent(tmp_path):
    target = tmp_path / "data"
    assert generate.ensure_mini_ilsvrc(target, PRESET, SEED) == target
    marker = generate.read_marker(target)
    assert (marker["preset"], marker["seed"], marker["version"]) == (PRESET, SEED, generate.VERSION)
    stamp = (target / generate.MARKER).stat().st_mtime_ns
    generate.ensure_mini_ilsvrc(target, PRESET, SEED)
    assert (target / generate.MARKER).stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError):
        generate.generate_mini_ilsvrc(target, PRESET, SEED)
    user = tmp_path / "user_data"
    user.mkdir()
    (user / "ILSVRC").mkdir()
    assert generate.ensure_mini_ilsvrc(user, PRESET, SEED) == user
    assert [p.name for p in user.iterdir()] == ["ILSVRC"], "an existing root is never touched"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert generate.read_marker(generate.ensure_mini_ilsvrc(empty, PRESET, SEED))["preset"] == PRESET
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "empty", "user_data"]


def test_overwrite_replaces_a_dataset(tmp_path):
    target = generate.generate_mini_ilsvrc(tmp_path / "data", PRESET, SEED)
    generate.generate_mini_ilsvrc(target, PRESET, SEED + 1, overwrite=True)
    assert generate.read_marker(target)["seed"] == SEED + 1
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_marker_names_the_dataset(root, plan):
    marker = generate.read_marker(root)
    assert marker["generator"] == generate.GENERATOR
    assert (marker["preset"], marker["seed"], marker["version"]) == (PRESET, SEED, generate.VERSION)
    assert marker["counts"]["cls_train"] == len(plan.by_split("cls_train"))
    assert marker["counts"]["det_negatives"] == sum(1 for j in plan.by_split("det_train") if j.xml_rel is None)
    assert generate.read_marker(root / "ILSVRC") is None

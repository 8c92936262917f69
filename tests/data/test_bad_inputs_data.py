"""Bad data roots: each gives an error naming the file (and line), or is skipped as the
config allows; none is silently accepted, none ends in a traceback. On copies of the smoke preset."""
from __future__ import annotations

import logging
import shutil
import struct
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from ilsvrc_pipe.data.annotations import parse_annotation
from ilsvrc_pipe.data.det_records import _image_size_from_file, check_det_blacklist
from ilsvrc_pipe.data.image_sets import read_image_list
from ilsvrc_pipe.data.images import image_size, load_rgb, load_rgb_or_none
from ilsvrc_pipe.data.loc_records import load_loc_records, read_kaggle_solution
from ilsvrc_pipe.data.synsets import find_clsloc_synsets
from ilsvrc_pipe.evaluation.ground_truth import load_loc_ground_truth
from ilsvrc_pipe.stages.data import flag_corrupt_images
from ilsvrc_pipe.utils.errors import DataFormatError, ImageDecodeError

DEVKIT = "ILSVRC/devkit/data"
VAL_XML = "ILSVRC/Annotations/CLS-LOC/val"


pytestmark = pytest.mark.usefixtures("restore_package_logger")   # conftest.py


@pytest.fixture
def root(smoke_root, tmp_path) -> Path:
    """A private copy of the smoke data root, to break."""
    return Path(shutil.copytree(smoke_root, tmp_path / "root"))


def bomb_png(path: Path, side: int = 20000) -> Path:
    """A PNG whose header claims ``side`` x ``side`` pixels (Pillow's decompression-bomb error)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
                     + chunk(b"IEND", b""))
    return path


# -- images --------------------------------------------------------------------------------------
def test_a_decompression_bomb_header_is_a_corrupt_image(tmp_path, caplog):
    path = bomb_png(tmp_path / "huge.JPEG")
    with pytest.raises(ImageDecodeError, match="huge.JPEG"):
        load_rgb(path)
    with pytest.raises(ImageDecodeError, match="huge.JPEG"):
        image_size(path)
    assert load_rgb_or_none(path, skip_corrupt=True) is None
    with caplog.at_level(logging.WARNING):
        assert _image_size_from_file(path) == (-1, -1)
    assert "huge.JPEG" in caplog.text


@pytest.mark.parametrize("verify", [True, False])
def test_skip_corrupt_images_skips_a_decompression_bomb(root, verify):
    """Decoded (verify_images) or only its header read (its size unknown): skipped alike when allowed."""
    images = load_loc_records(root, "val").images
    images.loc[2, "width"] = -1
    bomb_png(Path(images.path.iloc[2]))
    for skip in (True, False):
        data = dict(skip_corrupt_images=skip, verify_images=verify)
        ctx = SimpleNamespace(cfg=Config(dict(data=data)), logger=logging.getLogger("t"))
        if skip:
            assert flag_corrupt_images(ctx, images, "val", "loc").corrupt.tolist() == [k == 2 for k in range(len(images))]
        else:
            with pytest.raises(ImageDecodeError, match=Path(images.path.iloc[2]).name):
                flag_corrupt_images(ctx, images, "val", "loc")


def test_a_string_flag_in_a_config_file_is_an_error(root):
    """``skip_corrupt_images='no'`` written in a config is a truthy string: never read as yes."""
    from ilsvrc_pipe.utils.errors import UserInputError

    images = load_loc_records(root, "val").images
    ctx = SimpleNamespace(cfg=Config(dict(data=dict(skip_corrupt_images="no"))), logger=logging.getLogger("t"))
    with pytest.raises(UserInputError, match=r"data\.skip_corrupt_images: expected True or False, got 'no'"):
        flag_corrupt_images(ctx, images, "val", "loc")


# -- CLS-LOC val labels and boxes ----------------------------------------------------------------
def test_devkit_val_ground_truth_with_an_out_of_range_class_id(root):
    gt = root / DEVKIT / "ILSVRC2015_clsloc_validation_ground_truth.txt"
    lines = gt.read_text().splitlines()
    lines[4] = "1001"
    gt.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=rf"{gt.name}:5: class id 1001 is outside 1\.\.4"):
        load_loc_records(root, "val")


def test_kaggle_mapping_against_a_devkit_id_ground_truth_is_a_conflict(root):
    """Without map_clsloc.txt / meta_clsloc.mat the devkit ids would be decoded in sorted order."""
    (root / DEVKIT / "map_clsloc.txt").unlink()
    (root / DEVKIT / "meta_clsloc.mat").unlink()
    assert find_clsloc_synsets(root).source.endswith("LOC_synset_mapping.txt")
    with pytest.raises(DataFormatError, match=r"ground_truth\.txt:\d+: class ids read with .*disagree.*map_clsloc\.txt"):
        load_loc_records(root, "val")


def test_a_devkit_ground_truth_that_disagrees_with_the_xmls_is_an_error(root):
    gt = root / DEVKIT / "ILSVRC2015_clsloc_validation_ground_truth.txt"
    ids = gt.read_text().split()
    ids[0] = str(int(ids[0]) % 4 + 1)
    gt.write_text("\n".join(ids) + "\n")
    with pytest.raises(DataFormatError, match=rf"{gt.name}:1: .*disagree with the annotated class of 1 of 16"):
        load_loc_records(root, "val")


def test_a_val_xml_object_of_no_class_never_enters_the_records(root):
    xml = sorted((root / VAL_XML).glob("*.xml"))[0]
    text = xml.read_text()
    text = text.replace("</annotation>", "<object><name>n99999999</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
                                         "<xmax>5</xmax><ymax>5</ymax></bndbox></object>\n</annotation>")
    xml.write_text(text)
    line = text[:text.index("n99999999")].count("\n") + 1
    with pytest.raises(DataFormatError, match=rf"{xml.name}:{line}: object class 'n99999999' is not a CLS-LOC class"):
        load_loc_records(root, "val")


def test_kaggle_solution_with_an_unknown_class_or_a_nan_box(root, tmp_path):
    synsets = find_clsloc_synsets(root)
    path = tmp_path / "LOC_val_solution.csv"
    wnid = synsets.wnids[0]
    path.write_text(f"ImageId,PredictionString\nA,{wnid} 0 0 9 9\nB,n99999999 0 0 9 9\n")
    with pytest.raises(DataFormatError, match=r"LOC_val_solution\.csv:3: 'n99999999' is not a CLS-LOC class"):
        read_kaggle_solution(path, synsets)
    path.write_text(f"ImageId,PredictionString\nA,{wnid} 0 nan 9 9\n")
    with pytest.raises(DataFormatError, match=r"LOC_val_solution\.csv:2: expected finite box coordinates"):
        read_kaggle_solution(path)


# -- blacklists ----------------------------------------------------------------------------------
@pytest.mark.parametrize("number", [0, 17, -3])
def test_loc_blacklist_entry_out_of_range(root, number):
    """The data stage (records) and the scorer (ground truth) reject it alike, naming the line."""
    blacklist = root / DEVKIT / "ILSVRC2015_clsloc_validation_blacklist.txt"
    blacklist.write_text(f"2\n{number}\n")
    pattern = rf"{blacklist.name}:2: blacklisted image number {number} is outside 1\.\.16"
    with pytest.raises(DataFormatError, match=pattern):
        load_loc_records(root, "val")
    with pytest.raises(DataFormatError, match=pattern):
        load_loc_ground_truth(data_root=root)


def test_det_blacklist_entry_outside_val(root):
    blacklist = root / DEVKIT / "ILSVRC2015_det_validation_blacklist.txt"
    wnid = blacklist.read_text().split()[1]
    blacklist.write_text(f"1 {wnid}\n\n99 {wnid}\n")
    with pytest.raises(DataFormatError, match=rf"{blacklist.name}:3: image index 99 is not an image of .*val\.txt"):
        check_det_blacklist(root)


# -- XML numbers and text encodings --------------------------------------------------------------
@pytest.mark.parametrize("field, value", [("xmin", "nan"), ("ymax", "inf"), ("xmax", "-Infinity"), ("width", "nan")])
@pytest.mark.parametrize("keep_invalid", [True, False])
def test_a_non_finite_xml_number_is_an_error_for_scorer_and_data_stage(tmp_path, write_xml, field, value, keep_invalid):
    path = write_xml(tmp_path, "a", [("n01440764", (1, 2, 30, 40))])
    text = path.read_text()
    path.write_text(text.replace(f"<{field}>", f"<{field}>{value}<!--", 1).replace(f"</{field}>", f"--></{field}>", 1))
    with pytest.raises(DataFormatError, match=rf"a\.xml:1: <(bndbox/)?{field}.*must be a finite number, got '{value}'"):
        parse_annotation(path, keep_invalid=keep_invalid)


def test_an_image_list_in_utf16_names_the_file(tmp_path):
    path = tmp_path / "val.txt"
    path.write_bytes("ILSVRC2012_val_00000001 1\n".encode("utf-16"))
    with pytest.raises(DataFormatError, match=r"val\.txt: looks like UTF-16"):
        read_image_list(path)
    with pytest.raises(DataFormatError, match="is a directory"):
        read_image_list(tmp_path)


# -- the data stage itself (tools/run_pipeline.py --stage data, in process) ----------------------
def run_data_stage(root: Path, work: Path, *options: str) -> int:
    import importlib.util
    import sys

    tools = Path(__file__).resolve().parents[2] / "tools"
    sys.path.insert(0, str(tools))
    spec = importlib.util.spec_from_file_location("run_pipeline_tool", tools / "run_pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    extra = ["--cfg-options", *options] if options else []
    return module.main(["--config", str(tools.parent / "configs/mini/smoke.py"), "--stage", "data", "--work-dir",
                        str(work), "--data-root", str(root), *extra])


def test_data_stage_skips_a_decompression_bomb_only_when_allowed(root, tmp_path, capsys):
    victim = bomb_png(root / "ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000003.JPEG")
    assert run_data_stage(root, tmp_path / "a", "data.skip_corrupt_images=no") == 2
    err = capsys.readouterr().err
    assert f"{victim}: cannot decode image" in err and "Traceback" not in err
    assert run_data_stage(root, tmp_path / "b", "data.skip_corrupt_images=yes") == 0
    assert f"corrupt loc val image kept with whole-image guesses: {victim}" in capsys.readouterr().err


def test_data_stage_fails_on_a_kaggle_mapping_that_contradicts_the_devkit_ground_truth(root, tmp_path, capsys):
    (root / DEVKIT / "map_clsloc.txt").unlink()
    (root / DEVKIT / "meta_clsloc.mat").unlink()
    assert run_data_stage(root, tmp_path / "w") == 2
    err = capsys.readouterr().err
    assert "ILSVRC2015_clsloc_validation_ground_truth.txt:" in err and "map_clsloc.txt" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("task, text_name", [("clsloc", "map_clsloc.txt"), ("det", "map_det.txt")])
def test_a_map_file_that_contradicts_the_devkit_mat_is_an_error(root, task, text_name):
    from ilsvrc_pipe.data.class_lists import check_class_lists_agree

    check_class_lists_agree(root, task)  # the generated devkit agrees with itself
    path = root / DEVKIT / text_name
    lines = path.read_text().splitlines()
    first, second = lines[0].split(), lines[1].split()
    lines[0], lines[1] = " ".join([second[0], *first[1:]]), " ".join([first[0], *second[1:]])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=rf"{text_name}: devkit id 1 is {second[0]} here but {first[0]} in"):
        check_class_lists_agree(root, task)

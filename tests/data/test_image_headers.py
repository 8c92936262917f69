"""image_headers.py and its callers: sizes read in a pool, the images it cannot read left to the
caller, who reads them again in list order (so warnings and errors are those of a loop)."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from ilsvrc_pipe.data.det_records import load_det_records
from ilsvrc_pipe.data.image_headers import ABSENT, AGAIN, READ, read_image_sizes
from ilsvrc_pipe.data.images import image_size, load_rgb
from ilsvrc_pipe.data.loc_records import load_loc_records
from ilsvrc_pipe.stages.data import flag_corrupt_images
from ilsvrc_pipe.utils.errors import ImageDecodeError

pytestmark = pytest.mark.usefixtures("restore_package_logger")   # conftest.py


@pytest.fixture
def root(smoke_root, tmp_path) -> Path:
    """A private copy of the smoke data root, to break."""
    return Path(shutil.copytree(smoke_root, tmp_path / "root"))


@pytest.mark.parametrize("workers", [1, 2])
def test_sizes_of_readable_images_and_the_rest_left_to_the_caller(root, workers):
    paths = sorted(str(p) for p in (root / "ILSVRC/Data/CLS-LOC/val").glob("*.JPEG"))
    Path(paths[3]).write_bytes(b"no image")
    paths.insert(5, str(root / "missing.JPEG"))
    for decode in (False, True):
        for require_file in (False, True):
            read = read_image_sizes(paths, decode=decode, require_file=require_file, workers=workers)
            expected = [AGAIN if k == 3 else (ABSENT if require_file else AGAIN) if k == 5 else READ
                        for k in range(len(paths))]
            assert read.status.tolist() == expected and read.again.tolist() == [k for k, s in enumerate(expected)
                                                                                   if s == AGAIN]
            for k in [k for k, s in enumerate(expected) if s == READ]:
                assert tuple(read.sizes[k]) == (load_rgb(paths[k]).size if decode else image_size(paths[k]))
            assert read.sizes[3].tolist() == read.sizes[5].tolist() == [-1, -1]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_corrupt_images_are_skipped_or_fail_in_list_order(root, monkeypatch, caplog, workers):
    """The stage's image check: a corrupt image before a missing one is skipped with its warning, then
    the missing one stops it; without skipping, the corrupt one stops it."""
    monkeypatch.setenv("ILSVRC_PIPE_PARSE_WORKERS", workers)
    images = load_loc_records(root, "val").images
    images["width"] = -1                       # every header read
    Path(images.path.iloc[2]).write_bytes(b"no image")
    Path(images.path.iloc[9]).unlink()
    logger = logging.getLogger("test_image_headers")
    ctx = SimpleNamespace(cfg=Config(dict(data=dict(skip_corrupt_images=True, verify_images=False))), logger=logger)
    with caplog.at_level(logging.WARNING, logger="test_image_headers"), pytest.raises(FileNotFoundError):
        flag_corrupt_images(ctx, images, "val", "loc")
    warned = [r.getMessage().split(": ")[0] for r in caplog.records]
    assert warned == ["corrupt loc val image kept with whole-image guesses"]
    assert images.path.iloc[2] in caplog.text
    ctx.cfg = Config(dict(data=dict(skip_corrupt_images=False, verify_images=False)))
    with pytest.raises(ImageDecodeError, match=Path(images.path.iloc[2]).name):
        flag_corrupt_images(ctx, images, "val", "loc")
    shutil.copy(images.path.iloc[0], images.path.iloc[9])
    ctx.cfg = Config(dict(data=dict(skip_corrupt_images=True, verify_images=True)))
    flagged = flag_corrupt_images(ctx, images, "val", "loc")
    assert flagged.corrupt.tolist() == [k == 2 for k in range(len(images))]
    assert (flagged.width > 0).sum() == len(images) - 1 and flagged.width.iloc[2] == -1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_det_negatives_take_their_header_sizes_and_an_unreadable_one_warns(root, monkeypatch, caplog, workers):
    monkeypatch.setenv("ILSVRC_PIPE_PARSE_WORKERS", workers)
    plain = load_det_records(root, "train")
    negatives = plain.images[plain.images.xml_path.isna()]
    assert len(negatives) and (negatives.width > 0).all()
    victim = Path(negatives.path.iloc[0])
    victim.write_bytes(b"no image")
    with caplog.at_level(logging.WARNING):
        images = load_det_records(root, "train").images
    assert f"cannot read the image size: {victim}: cannot read image header" in caplog.text
    row = images.path.tolist().index(str(victim))
    assert (images.width[row], images.height[row]) == (-1, -1)
    assert images.drop(index=row).equals(plain.images.drop(index=row))

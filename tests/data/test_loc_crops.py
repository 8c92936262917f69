"""Training samples of the localization stages: the per-class RPN's random crops (boxes follow crop and
flip, mostly cut-away boxes become ignore boxes) and the R-CNN's RoI-centric warped regions."""
import numpy as np
import pandas as pd
import pytest
import torch
from mmengine.optim import OptimWrapper
from PIL import Image

from ilsvrc_pipe.data.loc_crops import RoICropDataset, RPNCropDataset, rcnn_collate
from ilsvrc_pipe.data.loc_records import LocRecords
from ilsvrc_pipe.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize_image
from ilsvrc_pipe.models.localization.rcnn import RoIRCNN
from ilsvrc_pipe.ops.box_coder import BoxCoder, continuous_to_inclusive, inclusive_to_continuous
from ilsvrc_pipe.ops.geometry import warp_regions

# --- RPNCropDataset -----------------------------------------------------------------------------


@pytest.fixture
def records_of(tmp_path, write_image):
    """``records_of(height, width, box, wnid, label)``: one black image with a white ``box``."""
    def make(height, width, box, wnid="n00000002", label=1):
        write_image(tmp_path / "a.png", (width, height), box)
        images = pd.DataFrame(dict(image_id=["a"], path=[str(tmp_path / "a.png")], wnid=[wnid], label=[label],
                                   width=[width], height=[height]))
        boxes = pd.DataFrame(dict(image_id=["a", "a"], wnid=[wnid] * 2, x1=[box[0], 5.0], y1=[box[1], 5.0],
                                  x2=[box[2], 1.0], y2=[box[3], 9.0]))   # the second box is inverted: dropped
        return LocRecords(images, boxes)
    return make


def unnormalize(x):
    return x * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)


def test_crop_boxes_sit_on_the_object_pixels_after_crop_and_flip(records_of):
    ds = RPNCropDataset(records=records_of(48, 64, (20, 5, 39, 24)), crop_size=48,
                        scale=(48, 48), flip=True)
    assert len(ds) == 1
    torch.manual_seed(0)
    flips = set()
    for _ in range(8):
        item = ds[0]
        sample = item["data_samples"]
        assert sample["label"] == 1 and sample["boxes"].shape == (1, 4)
        x1, y1, x2, y2 = sample["boxes"][0].round().int().tolist()
        assert (x2 - x1 + 1, y2 - y1 + 1) == (20, 20)
        pix = unnormalize(item["inputs"]).mean(0)
        assert pix[y1: y2 + 1, x1: x2 + 1].min() > 0.99
        mask = torch.ones_like(pix, dtype=torch.bool)
        mask[y1: y2 + 1, x1: x2 + 1] = False
        assert pix[mask].max() < 0.01
        flips.add(x1)
    assert len(flips) > 1


def test_a_box_mostly_cut_away_becomes_an_ignore_box(records_of):
    ds = RPNCropDataset(records=records_of(32, 96, (70, 0, 95, 31)), crop_size=32,
                        scale=(32, 32), flip=False, max_tries=1, min_visible=0.5)
    torch.manual_seed(1)
    seen = set()
    for _ in range(40):
        item = ds[0]
        visible = int((unnormalize(item["inputs"]).mean(0)[0] > 0.5).sum())   # white columns
        boxes, cut = item["data_samples"]["boxes"], item["data_samples"]["ignore_boxes"]
        if visible >= 13:                       # >= half of the 26-pixel-wide object
            assert len(boxes) == 1 and len(cut) == 0
            assert boxes[0, 2] - boxes[0, 0] + 1 == pytest.approx(visible)
            seen.add("kept")
        elif visible > 0:
            assert len(boxes) == 0 and len(cut) == 1
            seen.add("cut")
        else:
            assert len(boxes) == 0 and len(cut) == 0
            seen.add("gone")
    assert seen == {"kept", "cut", "gone"}


# --- RoICropDataset -----------------------------------------------------------------------------

RCNN_BACKBONE = dict(depth=18, width=0.125, stem_kernel=3, stem_stride=2, stem_pool=False)


def write_records(tmp_path):
    pixels = (np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8)   # noise: flips show
    Image.fromarray(pixels).save(tmp_path / "a.png")
    images = pd.DataFrame(dict(image_id=["a", "b"], path=[str(tmp_path / "a.png")] * 2, wnid=["nA", "nB"],
                               label=[0, 1], width=[60, 60], height=[40, 40]))
    boxes = pd.DataFrame(dict(image_id=["a"], wnid=["nA"], x1=[10.0], y1=[10.0], x2=[29.0], y2=[29.0]))
    return LocRecords(images, boxes)


PROPOSALS = pd.DataFrame(dict(
    image_id=["a"] * 5, wnid=["nA"] * 4 + ["nB"], score=[0.9] * 5,
    x1=[10.0, 12.0, 20.0, 40.0, 10.0], y1=[10.0, 10.0, 10.0, 30.0, 10.0],
    x2=[29.0, 31.0, 39.0, 59.0, 29.0], y2=[29.0, 29.0, 29.0, 39.0, 29.0]))
#  IoU with the nA box: 1 (fg), 360/440 (fg), 200/600 (bg), 0 (unused); nB has no box: bg


def test_region_labels_targets_and_roi_centric_length(tmp_path):
    ds = RoICropDataset(PROPOSALS, records=write_records(tmp_path), num_classes=3, crop_size=16,
                        fg_fraction=0.5, flip=False)
    assert ds.region_label[ds.fg].tolist() == [0, 0, 0]           # 2 proposals + the GT box
    assert len(ds.bg) == 2 and (ds.region_label[ds.bg] == 3).all()
    assert len(ds) == 3 + 2
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    for r in ds.fg:
        ref = inclusive_to_continuous(torch.as_tensor(ds.region_box[r]))
        moved = continuous_to_inclusive(coder.decode(torch.as_tensor(ds.region_delta[r]), ref))
        torch.testing.assert_close(moved, torch.tensor([10.0, 10.0, 29.0, 29.0]), atol=1e-4, rtol=0)
    strict = RoICropDataset(PROPOSALS, records=write_records(tmp_path), num_classes=3,
                            absent_as_background=False, include_gt=False)
    assert len(strict.fg) == 2 and len(strict.bg) == 1              # only IoU 1/3 is in [0.1, 0.5)
    wide = RoICropDataset(PROPOSALS, records=write_records(tmp_path), num_classes=3,
                          absent_as_background=False, include_gt=False, bg_iou=(0.0, 0.5))
    assert len(wide.bg) == 3                                        # IoU 1/3, 0 (nA) and 0 (nB)


def test_region_items_are_warped_crops_and_flips_negate_dx(tmp_path):
    records = write_records(tmp_path)
    plain = RoICropDataset(PROPOSALS, records=records, num_classes=3, crop_size=16, context_pad=2, flip=False)
    flipping = RoICropDataset(PROPOSALS, records=records, num_classes=3, crop_size=16, context_pad=2, flip=True)
    image = normalize_image(torch.as_tensor(np.array(Image.open(tmp_path / "a.png"))).permute(2, 0, 1))
    item = plain[1]
    expected = warp_regions(image, torch.as_tensor(plain.region_box[plain.fg[1]][None]), 16, context_pad=2)[0]
    torch.testing.assert_close(item["inputs"], expected)
    torch.manual_seed(0)
    flipped = 0
    for _ in range(10):
        other = flipping[1]
        if torch.equal(other["inputs"], item["inputs"]):
            torch.testing.assert_close(other["data_samples"]["deltas"], item["data_samples"]["deltas"])
        else:
            torch.testing.assert_close(other["inputs"], item["inputs"].flip(-1))
            d = item["data_samples"]["deltas"].clone()
            d[0] = -d[0]
            torch.testing.assert_close(other["data_samples"]["deltas"], d)
            flipped += 1
    assert 0 < flipped < 10
    batch = rcnn_collate([plain[i] for i in range(len(plain))])
    assert batch["inputs"].shape == (5, 3, 16, 16) and batch["data_samples"]["labels"].tolist()[:3] == [0, 0, 0]
    torch.manual_seed(0)                                 # the collated batch trains the R-CNN
    model = RoIRCNN(backbone=RCNN_BACKBONE, num_classes=3, crop_size=16)
    log = model.train_step(batch, OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01)))
    assert torch.isfinite(log["loss"])


def test_cached_crops_are_the_warps_and_flips_leave_them_alone(tmp_path):
    records = write_records(tmp_path)
    fresh = RoICropDataset(PROPOSALS, records=records, num_classes=3, crop_size=16, flip=False)
    cached = RoICropDataset(PROPOSALS, records=records, num_classes=3, crop_size=16, flip=True, cache_images=True)
    expected = {int(r): fresh.warped(int(r)).clone() for r in range(len(fresh.region_box))}
    assert not fresh._crops                                          # no image cache: nothing kept
    torch.manual_seed(1)
    for _ in range(4):                                               # several epochs, flips drawn
        for i in range(len(cached)):
            cached[i]
    assert set(cached._crops) <= set(expected) and len(cached._crops) >= len(cached.fg)
    for r, crop in cached._crops.items():
        torch.testing.assert_close(crop, expected[r], rtol=0, atol=0)   # a flip never wrote into the cache
    # the same draws give the same items with and without the cache
    uncached = RoICropDataset(PROPOSALS, records=records, num_classes=3, crop_size=16, flip=True)
    for i in range(len(cached)):
        torch.manual_seed(10 + i)
        a = cached[i]
        torch.manual_seed(10 + i)
        b = uncached[i]
        torch.testing.assert_close(a["inputs"], b["inputs"], rtol=0, atol=0)
        assert a["data_samples"]["label"] == b["data_samples"]["label"]


def test_keyed_items_of_both_crop_datasets_draw_from_torch_only(tmp_path, records_of):
    """``draws_from_numpy = False`` skips numpy's seeding: right only while neither dataset draws
    from numpy, which this checks (the same key gives the same item whatever numpy's state)."""
    from ilsvrc_pipe.data.seeded import SampleKey

    rpn = RPNCropDataset(records=records_of(48, 64, (20, 5, 39, 24)), crop_size=32, scale=(40, 60))
    roi = RoICropDataset(PROPOSALS, records=write_records(tmp_path), num_classes=3, crop_size=16, fg_fraction=0.25)
    for ds in (rpn, roi):
        assert ds.draws_from_numpy is False
        items = []
        for numpy_seed in (0, 1):
            np.random.seed(numpy_seed)
            before = np.random.get_state()[1].copy()
            items.append([ds[SampleKey(i % len(ds), 100 + i)] for i in range(6)])
            assert np.array_equal(np.random.get_state()[1], before)      # numpy's state untouched
        for a, b in zip(*items):
            torch.testing.assert_close(a["inputs"], b["inputs"], rtol=0, atol=0)

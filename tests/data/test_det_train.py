"""DET train/test datasets on mmengine BaseDataset + mmcv transforms: boxes follow resize and flip,
negatives, partially boxed classes, keyed reproducibility, corrupt images, pyramids, collate."""
from __future__ import annotations

import logging
import numpy as np
import pandas as pd
import pytest
import torch

from ilsvrc_pipe.data.det_records import load_det_records, read_det_train_lists
from ilsvrc_pipe.data.det_train import DetTestDataset, DetTrainDataset, det_collate, resize_scales
from ilsvrc_pipe.data.images import load_rgb_array
from ilsvrc_pipe.data.seeded import SampleKey, SeededSampler
from ilsvrc_pipe.data.synsets import find_det_synsets
from ilsvrc_pipe.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from ilsvrc_pipe.utils.errors import ImageDecodeError

MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


def pixels(inputs: torch.Tensor) -> torch.Tensor:
    """Normalised (3, H, W) -> 0..255 values."""
    return (inputs * STD + MEAN) * 255


@pytest.fixture(scope="module")
def det(smoke_root, tmp_path_factory):
    """The smoke DET tables as the ``data`` stage writes them (paths), plus the class table."""
    out = tmp_path_factory.mktemp("det_tables")
    synsets = find_det_synsets(smoke_root)
    tables = {}
    for split in ("train", "val1", "val2", "test"):
        images, boxes = load_det_records(smoke_root, split, synsets)
        images = images.assign(corrupt=False)
        tables[split] = (out / f"det_{split}_images.parquet", out / f"det_{split}_boxes.parquet")
        images.to_parquet(tables[split][0])
        boxes.to_parquet(tables[split][1])
    lists = out / "det_train_lists.parquet"
    read_det_train_lists(smoke_root, synsets).to_parquet(lists)
    return {"tables": tables, "lists": lists, "synsets": synsets, "dir": out}


def train_set(det, splits=("train", "val1"), **kw) -> DetTrainDataset:
    kw.setdefault("train_lists", det["lists"])
    kw.setdefault("scales", (128, 160, 192))
    kw.setdefault("max_size", 320)
    return DetTrainDataset([det["tables"][s][0] for s in splits], [det["tables"][s][1] for s in splits],
                           det["synsets"], **kw)


def row_of(ds, image_id) -> int:
    return next(i for i in range(len(ds)) if ds.get_data_info(i)["image_id"] == image_id)


def test_items_are_normalised_images_with_labels_of_the_class_table(det):
    ds = train_set(det)
    n_train = len(pd.read_parquet(det["tables"]["train"][0]))
    assert len(ds) == n_train + len(pd.read_parquet(det["tables"]["val1"][0]))
    assert ds.metainfo["classes"] == det["synsets"].sorted_wnids
    item = ds[0]
    x, s = item["inputs"], item["data_samples"]
    assert x.dtype == torch.float32 and x.shape[0] == 3 and min(x.shape[1:]) in (128, 160, 192)
    assert set(s) >= {"boxes", "labels", "ignore_labels", "image_id", "scale_factor", "ori_size"}
    assert s["boxes"].dtype == torch.float32 and s["boxes"].shape[1] == 4
    assert s["labels"].dtype == torch.int64 and len(s["labels"]) == len(s["boxes"])
    assert s["labels"].min() >= 1 and s["labels"].max() <= len(det["synsets"])
    # scale = the image's own shorter side: no resampling, so the pixels are the decoded file's
    info = ds.get_data_info(0)
    raw = load_rgb_array(info["img_path"])
    same = train_set(det, scales=(min(raw.shape[:2]),), max_size=None, flip=False)[0]
    assert same["data_samples"]["scale_factor"] == (1.0, 1.0)
    expected = torch.from_numpy(raw.copy()).permute(2, 0, 1).float()
    assert torch.allclose(pixels(same["inputs"]), expected, atol=1e-3)
    assert same["inputs"].mean(dim=(1, 2)).abs().max() < 3  # roughly centred


def test_boxes_are_continuous_and_scaled_by_the_resize_factor(det):
    images, boxes = (pd.read_parquet(p) for p in det["tables"]["train"])
    image = images[images.n_boxes > 0].iloc[0]
    first = boxes[boxes.image_id == image.image_id].iloc[0]
    ds = train_set(det, splits=("train",), scales=(150,), max_size=None, flip=False)
    item = ds[row_of(ds, image.image_id)]["data_samples"]
    h, w = item["ori_size"]
    f = 150 / min(h, w)
    new_w, new_h = int(w * f + 0.5), int(h * f + 0.5)  # mmcv rounds the size, scales boxes by the actual ratio
    sx, sy = new_w / w, new_h / h
    assert item["scale_factor"] == pytest.approx((sx, sy))
    # inclusive [x1, x2] covers pixels x1..x2, i.e. continuous [x1, x2 + 1)
    expected = [first.x1 * sx, first.y1 * sy, (first.x2 + 1) * sx, (first.y2 + 1) * sy]
    assert item["boxes"][0].tolist() == pytest.approx(expected, abs=1e-3)
    assert item["labels"][0] == det["synsets"].detection_label_of(first.wnid)


@pytest.fixture
def drawn(det, tmp_path, write_image):
    """One 50 x 40 image (PNG content named .JPEG), black with a white inclusive box [7, 5, 20, 30]."""
    png = write_image(tmp_path / "img.png", size=(50, 40), box=(7, 5, 20, 30))
    path = png.rename(tmp_path / "img.JPEG")
    wnid = det["synsets"].sorted_wnids[1]
    images = pd.DataFrame({"image_id": ["drawn"], "index": [1], "split": ["val1"], "path": [str(path)],
                           "xml_path": [None], "width": [50], "height": [40], "n_boxes": [1], "corrupt": [False]})
    boxes = pd.DataFrame({"image_id": ["drawn"], "wnid": [wnid], "x1": [7.0], "y1": [5.0], "x2": [20.0], "y2": [30.0]})
    images.to_parquet(tmp_path / "images.parquet")
    boxes.to_parquet(tmp_path / "boxes.parquet")
    return [tmp_path / "images.parquet"], [tmp_path / "boxes.parquet"]


def keys_with_flip(ds, flipped: bool, index: int = 0):
    for seed in range(100):
        item = ds[SampleKey(index, seed)]
        if item["data_samples"]["flip"] == flipped:
            return item
    raise AssertionError("no key gave the wanted flip")


def test_a_box_stays_on_its_pixels_after_resize_and_flip(det, drawn):
    # factor 2 with nearest neighbours: the white pixels are exactly the continuous box's pixels
    ds = DetTrainDataset(*drawn, det["synsets"], scales=(80,), max_size=None, interpolation="nearest")
    for flipped in (False, True):
        item = keys_with_flip(ds, flipped)
        img, box = pixels(item["inputs"]), item["data_samples"]["boxes"]
        assert img.shape == (3, 80, 100) and item["data_samples"]["scale_factor"] == (2.0, 2.0)
        white = (img.mean(0) > 127).nonzero()
        ys, xs = white[:, 0], white[:, 1]
        assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == box[0].tolist()
        assert len(white) == (box[0, 2] - box[0, 0]) * (box[0, 3] - box[0, 1])
    # the box [7, 21) x [5, 31) in 50 px is [14, 42) scaled; mirrored in 100 px: [58, 86)
    assert box[0].tolist() == [58.0, 10.0, 86.0, 62.0]


def test_flip_mirrors_image_and_boxes(det):
    ds = train_set(det, scales=(128,), max_size=None)
    images = pd.read_parquet(det["tables"]["train"][0])
    i = row_of(ds, images[images.n_boxes > 1].image_id.iloc[0])
    plain, flipped = keys_with_flip(ds, False, i), keys_with_flip(ds, True, i)
    assert torch.equal(flipped["inputs"], plain["inputs"].flip(-1))
    w = plain["inputs"].shape[-1]
    b = plain["data_samples"]["boxes"]
    mirrored = torch.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], dim=1)
    assert torch.allclose(flipped["data_samples"]["boxes"], mirrored)
    assert torch.equal(flipped["data_samples"]["labels"], plain["data_samples"]["labels"])


def test_negatives_are_background_only_images(det):
    ds = train_set(det, splits=("train",))
    images = pd.read_parquet(det["tables"]["train"][0])
    negatives = images[images.xml_path.isna()].image_id
    assert len(negatives)
    for image_id in negatives:
        s = ds[row_of(ds, image_id)]["data_samples"]
        assert s["boxes"].shape == (0, 4) and s["labels"].shape == (0,) and s["labels"].dtype == torch.int64


def test_partially_boxed_classes_become_ignore_labels(det, tmp_path):
    synsets = det["synsets"]
    lists = pd.read_parquet(det["lists"])
    partial = lists[lists.label == 0]
    assert len(partial)  # the smoke data holds the trap
    # add a class listed 0 on an image without a box of it
    boxes = pd.concat([pd.read_parquet(det["tables"][split][1]) for split in ("train", "val1")])
    stem = partial.stem.iloc[0]
    unboxed = next(w for w in synsets.sorted_wnids if w not in set(boxes.wnid[boxes.image_id == stem]))
    lists = pd.concat([lists, pd.DataFrame({"stem": [stem], "wnid": [unboxed], "label": [0]})], ignore_index=True)
    lists.to_parquet(tmp_path / "lists.parquet")
    ds = train_set(det, train_lists=tmp_path / "lists.parquet")
    wanted = {s: {synsets.detection_label_of(w) for w in g.wnid} for s, g in lists[lists.label == 0].groupby("stem")}
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        s = ds[i]["data_samples"]
        assert set(s["ignore_labels"].tolist()) == wanted.get(info["image_id"], set())
        boxed = {synsets.detection_label_of(w) for w in boxes.wnid[boxes.image_id == info["image_id"]]}
        assert set(s["labels"].tolist()) <= boxed  # only boxed classes are positives
    s = ds[row_of(ds, stem)]["data_samples"]
    assert synsets.detection_label_of(unboxed) in s["ignore_labels"].tolist()
    assert synsets.detection_label_of(unboxed) not in s["labels"].tolist()
    # boxes of a partially boxed class stay positives
    boxed_partial = synsets.detection_label_of(partial.wnid.iloc[0])
    if (boxes[(boxes.image_id == stem)].wnid == partial.wnid.iloc[0]).any():
        assert boxed_partial in s["labels"].tolist()
    assert len(train_set(det, train_lists=None)[row_of(ds, stem)]["data_samples"]["ignore_labels"]) == 0


def test_keyed_access_is_reproducible(det):
    ds = train_set(det)
    a, b = ds[SampleKey(3, 11)], ds[SampleKey(3, 11)]
    assert torch.equal(a["inputs"], b["inputs"]) and torch.equal(a["data_samples"]["boxes"], b["data_samples"]["boxes"])
    variants = {(ds[SampleKey(3, seed)]["inputs"].shape, ds[SampleKey(3, seed)]["data_samples"]["flip"])
                for seed in range(12)}
    assert len({v[0] for v in variants}) > 1 and len({v[1] for v in variants}) == 2
    # keyed access leaves the caller's numpy stream alone
    np.random.seed(0)
    expected = np.random.rand()
    np.random.seed(0)
    ds[SampleKey(1, 2)]
    assert np.random.rand() == expected
    # a sampler's keys work end to end with the collate function
    keys = list(SeededSampler(ds, seed=1))[:4]
    batch = det_collate([ds[k] for k in keys])
    assert len(batch["inputs"]) == 4 and len(batch["data_samples"]) == 4


def test_corrupt_images_are_dropped(det, tmp_path, caplog):
    images = pd.read_parquet(det["tables"]["train"][0])
    images.loc[2, "corrupt"] = True
    images.to_parquet(tmp_path / "images.parquet")
    with caplog.at_level(logging.WARNING):
        ds = DetTrainDataset([tmp_path / "images.parquet"], [det["tables"]["train"][1]], det["synsets"],
                             scales=(128,), max_size=None)
    assert len(ds) == len(images) - 1
    assert images.image_id[2] not in {ds.get_data_info(i)["image_id"] for i in range(len(ds))}
    assert "corrupt" in caplog.text


def test_an_unflagged_undecodable_image_fails_or_is_replaced(det, drawn, tmp_path):
    images = pd.read_parquet(drawn[0][0])
    bad = tmp_path / "bad.JPEG"
    bad.write_bytes(b"not an image")
    images = pd.concat([images.assign(image_id="bad", path=str(bad)), images], ignore_index=True)
    images.to_parquet(tmp_path / "two.parquet")
    with pytest.raises(ImageDecodeError):
        DetTrainDataset([tmp_path / "two.parquet"], drawn[1], det["synsets"], scales=(80,), max_size=None)[0]
    ds = DetTrainDataset([tmp_path / "two.parquet"], drawn[1], det["synsets"], scales=(80,), max_size=None,
                         skip_corrupt=True)
    assert ds[SampleKey(0, 1)]["data_samples"]["image_id"] == "drawn"  # mmengine's retry, seeded


def test_test_dataset_single_scale_and_pyramid(det):
    images_table = det["tables"]["val2"][0]
    images = pd.read_parquet(images_table)
    single = DetTestDataset([images_table], scale=100, max_size=None)
    item = single[0]
    assert isinstance(item["inputs"]["primary"], torch.Tensor) and min(item["inputs"]["primary"].shape[1:]) == 100
    assert item["inputs"]["pyramid"] == []
    s = item["data_samples"]
    assert s["image_id"] == images.image_id.iloc[0] and s["image_index"] == images["index"].iloc[0]
    assert s["scale_factors"] == [] and s["ori_size"] == load_rgb_array(images.path.iloc[0]).shape[:2]
    pyramid = DetTestDataset([images_table], scale=96, max_size=120, pyramid=[64, 96, 128], pyramid_max_size=150)
    item = pyramid[SampleKey(0, 5)]
    assert isinstance(item["inputs"]["pyramid"], list)
    h, w = item["data_samples"]["ori_size"]
    kept = item["data_samples"]["pyramid_scales"]
    assert len(item["inputs"]["pyramid"]) == len(kept) == len(item["data_samples"]["scale_factors"]) >= 1
    for x, side, (sx, sy) in zip(item["inputs"]["pyramid"], kept, item["data_samples"]["scale_factors"]):
        assert min(x.shape[1:]) == side or max(x.shape[1:]) == 150
        assert max(x.shape[1:]) <= 150
        assert x.shape[1:] == (round(h * sy), round(w * sx))
    primary, (sx, sy) = item["inputs"]["primary"], item["data_samples"]["scale_factor"]
    assert max(primary.shape[1:]) <= 120 and primary.shape[1:] == (round(h * sy), round(w * sx))
    assert torch.equal(pyramid[1]["inputs"]["pyramid"][0], pyramid[1]["inputs"]["pyramid"][0])  # no randomness
    batch = det_collate([pyramid[0], pyramid[1]])
    assert len(batch["inputs"]) == 2 and set(batch["inputs"][0]) == {"primary", "pyramid"}
    assert [d["image_id"] for d in batch["data_samples"]] == images.image_id.iloc[:2].tolist()


def test_registries_and_scale_checks(det):
    from mmcv.transforms import TRANSFORMS
    from mmengine.registry import FUNCTIONS

    from ilsvrc_pipe.registry import DATASETS

    assert TRANSFORMS.get("LoadRGBImage") and TRANSFORMS.get("PackDetInputs") and FUNCTIONS.get("det_collate")
    ds = DATASETS.build(dict(type="DetTrainDataset", images=[str(det["tables"]["val1"][0])],
                             boxes=[str(det["tables"]["val1"][1])], classes=list(det["synsets"].sorted_wnids),
                             scales=[96], max_size=200, lazy_init=True))
    assert len(ds[0]["data_samples"]["boxes"]) > 0
    assert resize_scales(600, 1000) == [(1000, 600)]
    with pytest.raises(ValueError):
        resize_scales([600], 500)
    with pytest.raises(ValueError, match="sorted"):
        DetTrainDataset([det["tables"]["val1"][0]], [det["tables"]["val1"][1]],
                        list(reversed(det["synsets"].sorted_wnids)))

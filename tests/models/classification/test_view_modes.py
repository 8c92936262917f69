"""Test-time classification modes: crop regions, dense fully convolutional testing, ensembles."""
import pytest
import torch

from ilsvrc_pipe.models.classification.classifier import ResNetClassifier
from ilsvrc_pipe.models.classification.view_modes import (
    average_probs,
    predict_center_crop,
    predict_dense,
    predict_ensemble,
    predict_ten_crop,
)
from ilsvrc_pipe.ops.geometry import center_crop, crop_boxes, resize_shorter, ten_crop


def make_model(seed: int = 0, num_classes: int = 6) -> ResNetClassifier:
    """Tiny classifier with the paper's stem (total stride 32) and non-trivial BN statistics."""
    torch.manual_seed(seed)
    model = ResNetClassifier(dict(depth=18, width=0.125), num_classes=num_classes)
    torch.nn.init.normal_(model.fc.weight, std=0.5)
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 64, 64))      # populate running statistics
    return model.eval()


def coordinate_image(height: int, width: int) -> torch.Tensor:
    """Channel 0 holds the column, channel 1 the row of every pixel."""
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([xs, ys, torch.zeros_like(xs)]).float()


def test_ten_crop_regions_are_exact():
    h, w, c = 11, 14, 6
    crops = ten_crop(coordinate_image(h, w).unsqueeze(0), c)[0]
    assert crops.shape == (10, 3, c, c)
    expected_origin = [(0, 0), (0, w - c), (h - c, 0), (h - c, w - c), (2, 4)]  # (y, x)
    for k, (y0, x0) in enumerate(expected_origin):
        crop = crops[k]
        assert crop[1, 0, 0] == y0 and crop[0, 0, 0] == x0
        assert crop[1, -1, -1] == y0 + c - 1 and crop[0, -1, -1] == x0 + c - 1
        flipped = crops[k + 5]
        torch.testing.assert_close(flipped, crop.flip(-1))
        assert flipped[0, 0, 0] == x0 + c - 1 and flipped[0, 0, -1] == x0


def test_center_crop_and_boxes():
    img = coordinate_image(9, 12).unsqueeze(0)
    crop = center_crop(img, 5)
    assert crop[0, 0, 0, 0] == 4 and crop[0, 1, 0, 0] == 2     # x0 = (12-5)/2 rounded, y0 = 2
    assert crop_boxes(9, 12, 5)[4] == (2, 4)
    with pytest.raises(ValueError):
        crop_boxes(9, 12, 10)


def test_resize_shorter():
    assert resize_shorter(torch.rand(2, 3, 30, 60), 20).shape == (2, 3, 20, 40)
    assert resize_shorter(torch.rand(3, 45, 30), 20).shape == (3, 30, 20)
    x = torch.rand(1, 3, 20, 25)
    assert resize_shorter(x, 20) is x


def test_ten_crop_prediction_is_mean_softmax_of_crops():
    model = make_model()
    images = torch.randn(2, 3, 40, 50)
    probs = predict_ten_crop(model, images, scale=40, crop=32)
    assert probs.shape == (2, 6)
    torch.testing.assert_close(probs.sum(1), torch.ones(2))
    with torch.no_grad():
        crops = ten_crop(images, 32)
        manual = torch.stack([model.logits(crops[i]).softmax(1).mean(0) for i in range(2)])
    torch.testing.assert_close(probs, manual)


def test_fc_as_conv_equals_fc_on_pooled_features():
    model = make_model()
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        maps = model.score_map(x)
        assert maps.shape == (2, 6, 3, 4)
        torch.testing.assert_close(maps.mean(dim=(2, 3)), model.logits(x))
    # the 1x1 conv is the fc's own weight: no extra state, gradients reach fc
    assert [k for k in model.state_dict() if not k.startswith("backbone.")] == ["fc.weight",
                                                                                  "fc.bias"]
    model.score_map(x).sum().backward()
    assert model.fc.weight.grad is not None


def test_dense_with_one_by_one_map_equals_center_crop():
    model = make_model()
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert model.score_map(images).shape[-2:] == (1, 1)
    dense = predict_dense(model, images, scales=(32,), flip=False)
    single = predict_center_crop(model, images, scale=32, crop=32)
    torch.testing.assert_close(dense, single)


def _manual_dense(model, images, scales, image_probs):
    with torch.no_grad():
        per_scale = []
        for s in scales:
            x = resize_shorter(images, s)
            probs = [image_probs(v) for v in (x, x.flip(-1))]
            per_scale.append((probs[0] + probs[1]) / 2)
    return sum(per_scale) / len(per_scale)


def test_dense_averages_logits_spatially_then_flips_and_scales():
    """The paper's (VGG's) dense form: the score map is averaged over positions before the
    softmax, i.e. the whole image's pooled logits at each scale."""
    model = make_model()
    images = torch.randn(2, 3, 64, 80)
    expected = _manual_dense(model, images, (64, 96), lambda v: model.logits(v).softmax(1))
    torch.testing.assert_close(predict_dense(model, images, scales=(64, 96)), expected)


def test_dense_probs_average_softmaxes_each_position_first():
    model = make_model()
    images = torch.randn(2, 3, 64, 80)
    expected = _manual_dense(model, images, (64, 96),
                             lambda v: model.score_map(v).softmax(1).mean(dim=(2, 3)))
    probs = predict_dense(model, images, scales=(64, 96), average="probs")
    torch.testing.assert_close(probs, expected)
    assert not torch.allclose(probs, predict_dense(model, images, scales=(64, 96)))
    with pytest.raises(ValueError, match="average must be one of"):
        predict_dense(model, images, scales=(64,), average="max")


def test_dense_batches_images_of_equal_size(monkeypatch):
    model = make_model()
    images = [torch.randn(3, 64, 64), torch.randn(3, 64, 96), torch.randn(3, 32, 32),
              torch.randn(3, 40, 60)]   # at scale 64: sizes 64x64, 64x96, 64x64, 64x96
    batches = []
    logits = model.logits
    monkeypatch.setattr(model, "logits", lambda x: batches.append(len(x)) or logits(x))
    probs = predict_dense(model, images, scales=(64,), flip=False)
    assert probs.shape == (4, 6) and batches == [2, 2]
    for i, im in enumerate(images):
        alone = predict_dense(model, im.unsqueeze(0), scales=(64,), flip=False)
        torch.testing.assert_close(probs[i: i + 1], alone, atol=1e-6, rtol=1e-5)


def test_list_inputs_for_crops():
    model = make_model()
    images = [torch.randn(3, 40, 50), torch.randn(3, 60, 40)]
    assert predict_center_crop(model, images, scale=40, crop=32).shape == (2, 6)
    assert predict_ten_crop(model, images, scale=40, crop=32).shape == (2, 6)


def test_model_mode_is_restored():
    model = make_model().train()
    predict_dense(model, torch.randn(1, 3, 32, 32), scales=(32,))
    assert model.training


def test_ensemble_averages_member_probabilities():
    members = [make_model(0), make_model(1)]
    images = torch.randn(2, 3, 48, 48)
    a, b = (predict_center_crop(m, images, scale=48, crop=40) for m in members)
    ens = predict_ensemble(members, images, predict=predict_center_crop, scale=48, crop=40)
    torch.testing.assert_close(ens, (a + b) / 2)
    weighted = predict_ensemble(members, images, predict=predict_center_crop,
                                weights=[3, 1], scale=48, crop=40)
    torch.testing.assert_close(weighted, 0.75 * a + 0.25 * b)
    with pytest.raises(ValueError):
        average_probs([a, b], weights=[1.0])


def test_cls_stage_reads_dense_average_from_its_test_config():
    from ilsvrc_pipe.models.classification.view_modes import predict_modes
    model = make_model()
    images = [torch.randn(3, 64, 80), torch.randn(3, 72, 64)]
    test = dict(scale=64, crop=48, dense_scales=[64])
    default = predict_modes(model, images, test, modes=("dense",))["dense"]
    probs = predict_modes(model, images, {**test, "dense_average": "probs"}, modes=("dense",))["dense"]
    torch.testing.assert_close(default, predict_dense(model, images, scales=(64,)))
    torch.testing.assert_close(probs, predict_dense(model, images, scales=(64,), average="probs"))

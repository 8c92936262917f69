"""Box parameterisation and the inclusive/continuous conversions."""
import math

import torch

from ilsvrc_pipe.ops.box_coder import (
    BoxCoder,
    clip_boxes,
    clip_inclusive,
    continuous_to_inclusive,
    inclusive_to_continuous,
)


def random_boxes(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 80 + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_encode_decode_round_trip_with_weights():
    ref, tgt = random_boxes(50, 0), random_boxes(50, 1)
    for weights in [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)]:
        coder = BoxCoder(weights)
        torch.testing.assert_close(coder.decode(coder.encode(ref, tgt), ref), tgt, atol=1e-4, rtol=1e-5)


def test_encode_matches_the_definition():
    ref = torch.tensor([[0.0, 0.0, 10.0, 20.0]])
    tgt = torch.tensor([[5.0, 0.0, 25.0, 10.0]])
    d = BoxCoder((10.0, 10.0, 5.0, 5.0)).encode(ref, tgt)
    # centres (5, 10) -> (15, 5); sizes (10, 20) -> (20, 10)
    torch.testing.assert_close(d, torch.tensor([[10 * 1.0, 10 * -0.25, 5 * math.log(2), 5 * math.log(0.5)]]))
    assert BoxCoder().encode(ref, ref).abs().max() == 0


def test_decode_broadcasts_classes_against_anchors():
    anchors = random_boxes(7, 2)
    deltas = torch.randn(7, 3, 4) * 0.1
    coder = BoxCoder()
    out = coder.decode(deltas, anchors[:, None, :])
    assert out.shape == (7, 3, 4)
    torch.testing.assert_close(out[:, 1], coder.decode(deltas[:, 1], anchors))


def test_size_deltas_are_clamped():
    coder = BoxCoder(delta_clip=math.log(4.0))
    box = coder.decode(torch.tensor([[0.0, 0.0, 50.0, 50.0]]), torch.tensor([[0.0, 0.0, 10.0, 10.0]]))
    torch.testing.assert_close(box, torch.tensor([[-15.0, -15.0, 25.0, 25.0]]))


def test_inclusive_continuous_round_trip_and_width():
    inc = torch.tensor([[3.0, 4.0, 3.0, 9.0], [0.0, 0.0, 99.0, 49.0]])
    cont = inclusive_to_continuous(inc)
    torch.testing.assert_close(cont[:, 2] - cont[:, 0], inc[:, 2] - inc[:, 0] + 1)
    torch.testing.assert_close(continuous_to_inclusive(cont), inc)


def test_clipping_in_both_conventions():
    cont = torch.tensor([[-5.0, -1.0, 70.0, 20.0]])
    torch.testing.assert_close(clip_boxes(cont, (30, 64)), torch.tensor([[0.0, 0.0, 64.0, 20.0]]))
    inc = torch.tensor([[-5.0, 40.0, 70.0, 35.0]])
    torch.testing.assert_close(clip_inclusive(inc, (30, 64)), torch.tensor([[0.0, 29.0, 63.0, 29.0]]))

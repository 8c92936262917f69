"""Image decoding by content: CMYK, PNG named .JPEG, grayscale, RGBA -> RGB; corrupt files named."""
import numpy as np
import pytest
from PIL import Image

from ilsvrc_pipe.data.images import image_size, load_rgb, load_rgb_or_none
from ilsvrc_pipe.utils.errors import ImageDecodeError


@pytest.mark.parametrize("mode,fmt", [("CMYK", "JPEG"), ("L", "JPEG"), ("RGB", "PNG"), ("RGBA", "PNG"), ("P", "PNG")])
def test_every_mode_becomes_rgb(tmp_path, mode, fmt):
    p = tmp_path / "x.JPEG"  # the extension lies for the PNG cases, as in the real data
    Image.new(mode, (7, 5)).save(p, format=fmt)
    img = load_rgb(p)
    assert img.mode == "RGB" and img.size == (7, 5)
    assert image_size(p) == (7, 5)


def test_rgba_composited_on_white(tmp_path):
    p = tmp_path / "a.png"
    Image.new("RGBA", (2, 2), (255, 0, 0, 0)).save(p)
    assert np.asarray(load_rgb(p))[0, 0].tolist() == [255, 255, 255]


def test_truncated_file_is_named(tmp_path):
    p = tmp_path / "broken.JPEG"
    Image.new("RGB", (64, 64), (10, 20, 30)).save(p, format="JPEG")
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ImageDecodeError, match="broken.JPEG"):
        load_rgb(p)
    assert load_rgb_or_none(p, skip_corrupt=True) is None
    with pytest.raises(ImageDecodeError):
        load_rgb_or_none(p, skip_corrupt=False)

"""preview.py: the contact sheet of a generated dataset."""
from __future__ import annotations

from PIL import Image

from ilsvrc_pipe.synthetic.preview import write_preview


def test_preview_is_written(root, tmp_path):
    out = write_preview(root, tmp_path / "preview.png", n=4)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 100 and img.height > 100

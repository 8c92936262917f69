"""Contact sheet of a generated dataset: images with their XML boxes and class names drawn on them.

``write_preview`` (``tools/make_mini_ilsvrc.py --preview``) reads the files back through the
package's own readers, so it shows what the pipeline sees: made to eyeball that objects are
recognisable and boxes tight.
"""
from __future__ import annotations

import os
from pathlib import Path

from PIL import Image, ImageDraw

from ..data.annotations import parse_annotation
from ..data.synsets import find_clsloc_synsets, find_det_synsets


def _preview_items(root: Path, n: int) -> list[tuple[Path, Path]]:
    """(image, xml) pairs: CLS-LOC val first, then DET train and val, n of each kind at most."""
    il = root / "ILSVRC"
    groups = [sorted((il / "Annotations/CLS-LOC/val").glob("*.xml"))[:n],
              sorted((il / "Annotations/DET/train/ILSVRC2013_train").rglob("*.xml"))[::7][:n],
              sorted((il / "Annotations/DET/val").glob("*.xml"))[:n]]
    items = []
    for xmls in groups:
        for xml in xmls:
            rel = xml.relative_to(il / "Annotations").with_suffix(".JPEG")
            items.append((il / "Data" / rel, xml))
    return items


def _draw_tile(image_path: Path, xml_path: Path, names: dict, cell: int) -> Image.Image:
    """One image scaled to ``cell`` px high with its XML boxes and class names drawn on it."""
    img = Image.open(image_path).convert("RGB")
    scale = cell / img.height
    img = img.resize((max(1, round(img.width * scale)), cell), Image.NEAREST)
    ann = parse_annotation(xml_path, keep_invalid=True)
    draw = ImageDraw.Draw(img)
    for name, box in zip(ann.names, ann.boxes):
        x1, y1, x2, y2 = (float(c) for c in box)
        rect = [x1 * scale, y1 * scale, (x2 + 1) * scale - 1, (y2 + 1) * scale - 1]
        if rect[2] < rect[0] or rect[3] < rect[1]:
            continue
        draw.rectangle(rect, outline=(255, 255, 0), width=1)
        draw.text((rect[0] + 2, rect[1] + 1), names.get(name, name), fill=(255, 255, 0))
    return img


def write_preview(root: str | os.PathLike, png_path: str | os.PathLike, n: int = 12, cell: int = 192) -> Path:
    """Contact sheet of CLS-LOC val, DET train and DET val images with their XML boxes and names.

    Made to eyeball that objects are recognisable and boxes tight.
    """
    root = Path(root)
    names = {}
    for table in (find_clsloc_synsets(root), find_det_synsets(root)):
        names.update({w: table.name_of(w) for w in table.wnids})
    tiles = [_draw_tile(img, xml, names, cell) for img, xml in _preview_items(root, n)]
    cols = 6
    col_w = max(t.width for t in tiles) + 4
    sheet = Image.new("RGB", (cols * col_w, ((len(tiles) + cols - 1) // cols) * (cell + 4)), (32, 32, 32))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % cols) * col_w + 2, (k // cols) * (cell + 4) + 2))
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(png_path)
    return png_path

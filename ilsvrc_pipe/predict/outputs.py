"""What ``tools/predict.py`` writes: ``predictions.json``, ``predictions.csv`` and ``vis/`` (boxes drawn).

``predictions.json`` is a list with one entry per input image, in input order: ``file`` (as given),
``width``, ``height`` and ``boxes``, each ``{"wnid", "name", "score", "box"}`` with ``box`` an
inclusive ``[x1, y1, x2, y2]`` in the original image's pixels (the devkit's convention); LOC boxes
also carry ``box_score`` (the localizer's own score; ``score`` is the class probability). An image
that could not be decoded (with ``--skip-corrupt``) has ``error`` and no boxes. The CSV holds the
same boxes, one per line.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from tqdm import tqdm

from ..utils.io_utils import atomic_path, write_json_atomic

CSV_COLUMNS = ["file", "rank", "wnid", "name", "score", "x1", "y1", "x2", "y2"]
COLOURS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60)]


def write_predictions(out_dir: Path, entries: list[dict]) -> dict[str, Path]:
    """``predictions.json`` and ``predictions.csv`` of the entries."""
    paths = {"json": out_dir / "predictions.json", "csv": out_dir / "predictions.csv"}
    write_json_atomic(paths["json"], entries)
    with atomic_path(paths["csv"]) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for entry in entries:
            for rank, b in enumerate(entry["boxes"], 1):
                writer.writerow([entry["file"], rank, b["wnid"], b["name"], f"{b['score']:.6f}", *b["box"]])
    return paths


def vis_names(files: list[str]) -> list[str]:
    """A distinct ``.jpg`` name per input file (same names from different folders get ``_2``, ``_3``)."""
    names, seen = [], {}
    for f in files:
        stem = Path(f).stem or "image"
        seen[stem] = seen.get(stem, 0) + 1
        names.append(f"{stem}.jpg" if seen[stem] == 1 else f"{stem}_{seen[stem]}.jpg")
    return names


def draw_boxes(path: str | os.PathLike, boxes: list[dict], out: Path, min_score: float = 0.0) -> None:
    """The image with its boxes (score >= ``min_score``; the first box always) and ``name score`` labels."""
    from PIL import ImageDraw

    from ..data.images import load_rgb

    img = load_rgb(path)
    draw = ImageDraw.Draw(img)
    width = max(1, round(max(img.size) / 250))
    for k, b in reversed(list(enumerate(boxes))):  # the best box last: on top
        if k and b["score"] < min_score:
            continue
        colour = COLOURS[k % len(COLOURS)]
        x1, y1, x2, y2 = b["box"]
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=width if k else width + 1)
        label = f"{b['name'][:18]} {b['score']:.2f}"
        tx, ty = x1 + 2, (y1 - 11 if y1 >= 11 else y1 + 1)  # above the box, or inside at the top edge
        draw.rectangle(draw.textbbox((tx, ty), label), fill=colour)
        draw.text((tx, ty), label, fill=(255, 255, 255))
    with atomic_path(out) as tmp:
        img.save(tmp, format="JPEG", quality=90)


def write_visualisations(out_dir: Path, entries: list[dict], min_score: float) -> Path:
    vis = out_dir / "vis"
    done = [e for e in entries if "error" not in e]
    for entry, name in tqdm(list(zip(done, vis_names([e["file"] for e in done]))), desc="draw", unit="img",
                            leave=False, disable=len(done) < 200):
        draw_boxes(entry["file"], entry["boxes"], vis / name, min_score)
    return vis

"""tools/predict.py's edges that need no trained model: which files are images, bad files, outputs."""
import csv
import json

import pytest
from PIL import Image

from ilsvrc_pipe.predict.inputs import check_images, collect_images
from ilsvrc_pipe.predict.outputs import vis_names, write_predictions, write_visualisations
from ilsvrc_pipe.utils.errors import ImageDecodeError, UserInputError


def test_folders_are_searched_recursively_and_files_taken_as_given(tmp_path, write_image):
    write_image(tmp_path / "in/a.JPEG")
    write_image(tmp_path / "in/sub/b.png", size=(30, 20))
    Image.new("L", (12, 9)).save(tmp_path / "in/sub/gray.jpg")
    (tmp_path / "in/notes.txt").write_text("not an image")
    (tmp_path / "in/.hidden").mkdir()
    write_image(tmp_path / "in/.hidden/c.jpg")
    named = tmp_path / "photo.data"  # named explicitly: decoded by content, whatever its suffix
    named.write_bytes(write_image(tmp_path / "src.png").read_bytes())
    found = collect_images([tmp_path / "in", named, tmp_path / "in/a.JPEG"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["in/a.JPEG", "in/sub/b.png", "in/sub/gray.jpg",
                                                                   "photo.data"]
    assert [(i.width, i.height) for i in check_images(found)] == [(60, 40), (30, 20), (12, 9), (60, 40)]


def test_bad_inputs_are_one_line_errors(tmp_path, write_image):
    with pytest.raises(FileNotFoundError, match="--images .*missing: no such file or folder"):
        collect_images([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no image files"):
        collect_images([tmp_path / "empty"])
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    good = write_image(tmp_path / "good.png")
    with pytest.raises(ImageDecodeError, match="bad.jpg: cannot read image header"):
        check_images([good, bad])
    kept = check_images([good, bad], skip_corrupt=True)
    assert kept[0].error is None and "cannot read image header" in kept[1].error


def test_outputs(tmp_path, write_image):
    image = write_image(tmp_path / "x/a.png", size=(50, 40))
    other = write_image(tmp_path / "y/a.png", size=(50, 40))
    box = {"wnid": "n01", "name": "thing", "score": 0.9, "box": [1.0, 2.0, 30.0, 20.0]}
    entries = [{"file": str(image), "width": 50, "height": 40, "boxes": [box, {**box, "score": 0.1}]},
               {"file": str(other), "width": 50, "height": 40, "boxes": []},
               {"file": str(tmp_path / "z.jpg"), "width": -1, "height": -1, "boxes": [], "error": "z.jpg: bad"}]
    paths = write_predictions(tmp_path / "out", entries)
    assert json.loads(paths["json"].read_text()) == entries
    with open(paths["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["rank"], r["score"], r["x2"]) for r in rows] == [("1", "0.900000", "30.0"), ("2", "0.100000", "30.0")]
    vis = write_visualisations(tmp_path / "out", entries, min_score=0.3)
    assert sorted(p.name for p in vis.iterdir()) == ["a.jpg", "a_2.jpg"]
    assert Image.open(vis / "a.jpg").size == (50, 40)
    assert vis_names(["p/a.jpg", "q/a.png", "b.jpg"]) == ["a.jpg", "a_2.jpg", "b.jpg"]

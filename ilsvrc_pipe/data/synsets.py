"""Class maps: the one place that converts between the two ILSVRC class numberings.

* devkit id: 1-based position in the devkit's class list (``map_clsloc.txt``, ``meta_clsloc.mat``,
  ``map_det.txt`` ...). Devkit files (ground truth, submissions) use it. It is NOT sorted order.
* sorted index: 0-based position of the WNID in the sorted WNID list (torchvision, Kaggle).

Inside the package classes are WNIDs or sorted indices; devkit ids appear only at file edges, and
every conversion goes through :class:`SynsetTable`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..utils.errors import DataFormatError, open_text

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SynsetTable:
    """Classes in devkit order. ``wnids[i]`` has devkit id ``i + 1``.

    ``synset_ids``: the id of every synset of a devkit ``.mat`` (its classes and the WordNet synsets
    it lists beside them, e.g. ids 201..815 of ``meta_det.mat``); ``None`` when the source lists only
    classes. Read it with :meth:`synset_id_of`.
    """

    wnids: tuple[str, ...]
    names: tuple[str, ...]
    source: str = ""
    synset_ids: Mapping[str, int] | None = field(default=None, repr=False, compare=False)
    _id: dict = field(init=False, repr=False, compare=False)
    _sorted: tuple = field(init=False, repr=False, compare=False)
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if len(self.names) != len(self.wnids):
            raise ValueError("names and wnids differ in length")
        ids = {w: i + 1 for i, w in enumerate(self.wnids)}
        if len(ids) != len(self.wnids):
            dup = sorted({w for w in self.wnids if list(self.wnids).count(w) > 1})
            raise DataFormatError(f"{self.source or 'synsets'}: duplicate WNIDs {dup[:5]}")
        if self.synset_ids is not None:
            if any(self.synset_ids.get(w) != i for w, i in ids.items()):
                raise ValueError("synset_ids must give each class its devkit id")
            object.__setattr__(self, "synset_ids", dict(self.synset_ids))  # a private copy
        srt = tuple(sorted(self.wnids))
        object.__setattr__(self, "_id", ids)
        object.__setattr__(self, "_sorted", srt)
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(srt)})

    # -- sizes and lists ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.wnids)

    def __contains__(self, wnid: str) -> bool:
        return wnid in self._id

    @property
    def sorted_wnids(self) -> tuple[str, ...]:
        """WNIDs in sorted order: position = sorted index."""
        return self._sorted

    # -- conversions -------------------------------------------------------------------------
    def id_of(self, wnid: str) -> int:
        """Devkit id (1-based) of a WNID."""
        try:
            return self._id[wnid]
        except KeyError:
            raise KeyError(f"WNID {wnid!r} is not a class of {self.source or 'this synset table'}") from None

    def synset_id_of(self, wnid: str) -> int:
        """Devkit id of any synset of the source file, class or not (see ``synset_ids``)."""
        if self.synset_ids is None:
            return self.id_of(wnid)
        try:
            return self.synset_ids[wnid]
        except KeyError:
            raise KeyError(f"WNID {wnid!r} is not a synset of {self.source or 'this synset table'}") from None

    def wnid_of_id(self, devkit_id: int) -> str:
        if not 1 <= int(devkit_id) <= len(self.wnids):
            raise KeyError(f"devkit id {devkit_id} outside 1..{len(self.wnids)}")
        return self.wnids[int(devkit_id) - 1]

    def index_of(self, wnid: str) -> int:
        """Sorted index (0-based) of a WNID."""
        try:
            return self._index[wnid]
        except KeyError:
            raise KeyError(f"WNID {wnid!r} is not a class of {self.source or 'this synset table'}") from None

    def wnid_of_index(self, index: int) -> str:
        return self._sorted[int(index)]

    def name_of(self, wnid: str) -> str:
        return self.names[self.id_of(wnid) - 1]

    def ids_to_indices(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Vectorised devkit id -> sorted index."""
        lut = np.array([self._index[w] for w in self.wnids], dtype=np.int64)
        return lut[np.asarray(ids, dtype=np.int64) - 1]

    def indices_to_ids(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Vectorised sorted index -> devkit id."""
        lut = np.array([self._id[w] for w in self._sorted], dtype=np.int64)
        return lut[np.asarray(indices, dtype=np.int64)]

    # torchvision's detection models number classes 1..C with 0 = background: label = sorted index + 1
    def detection_label_of(self, wnid: str) -> int:
        """torchvision detection label (1-based; 0 is background) of a WNID."""
        return self.index_of(wnid) + 1

    def wnid_of_detection_label(self, label: int) -> str:
        if not 1 <= int(label) <= len(self.wnids):
            raise KeyError(f"detection label {label} outside 1..{len(self.wnids)} (0 is background)")
        return self._sorted[int(label) - 1]

    def detection_labels_to_ids(self, labels: Sequence[int] | np.ndarray) -> np.ndarray:
        """Vectorised torchvision detection label (1..C) -> devkit id."""
        return self.indices_to_ids(np.asarray(labels, dtype=np.int64) - 1)

    def subset(self, wnids: Iterable[str]) -> "SynsetTable":
        """A table of some classes, keeping their devkit order (ids renumbered 1..K, so no ``synset_ids``)."""
        keep = set(wnids)
        pairs = [(w, n) for w, n in zip(self.wnids, self.names) if w in keep]
        return SynsetTable(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs), self.source)


# -- readers -------------------------------------------------------------------------------------
def _read_text_table(path: Path) -> SynsetTable:
    """``wnid id name`` (devkit map file) or ``wnid [name]`` (list: line i = id i)."""
    rows: list[tuple[int, str, str]] = []
    kind = None
    with open_text(path) as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line:
                continue
            parts = line.split(None, 2)
            wnid = parts[0]
            if not (wnid.startswith("n") and wnid[1:].isdigit()):
                raise DataFormatError(f"{path}:{lineno}: expected a WNID like n01440764 first, got {wnid!r}")
            this_kind = "map" if len(parts) >= 2 and parts[1].lstrip("-").isdigit() else "list"
            if kind is None:
                kind = this_kind
            elif kind != this_kind:
                raise DataFormatError(
                    f"{path}:{lineno}: mixes 'wnid id name' and 'wnid name' lines (expected {kind} format)")
            if kind == "map":
                rows.append((int(parts[1]), wnid, parts[2] if len(parts) > 2 else ""))
            else:
                name = line.split(None, 1)[1] if len(parts) > 1 else ""
                rows.append((len(rows) + 1, wnid, name))
    if not rows:
        raise DataFormatError(f"{path}: no classes found")
    rows.sort(key=lambda r: r[0])
    ids = [r[0] for r in rows]
    if ids != list(range(1, len(rows) + 1)):
        raise DataFormatError(f"{path}: class ids must be exactly 1..{len(rows)}, got {ids[:10]}...")
    return SynsetTable(tuple(r[1] for r in rows), tuple(r[2] for r in rows), str(path))


def _read_mat(path: Path) -> SynsetTable:
    """``synsets`` struct array of a devkit .mat (2012 meta.mat, meta_clsloc.mat, meta_det.mat).

    Which rows are classes depends on the task (DET ids 1..200, CLS-LOC ids 1..1000) and the
    layout, so the rule lives in :mod:`.synsets_mat`; every synset's id rides along as ``synset_ids``.
    """
    from .synsets_mat import read_mat_synsets

    meta = read_mat_synsets(path)
    return SynsetTable(meta.wnids, meta.names, str(path), meta.synset_ids)


def read_synsets(path: str | os.PathLike) -> SynsetTable:
    """Read any class list: a devkit map file, a ``wnid [name]`` list, or a devkit ``.mat``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"synset file not found: {path}")
    if path.suffix.lower() == ".mat":
        return _read_mat(path)
    return _read_text_table(path)


# -- discovery inside a data root ---------------------------------------------------------------
def ilsvrc_dir(root: str | os.PathLike) -> Path:
    """The ``ILSVRC`` folder of a data root (the root itself when it already is that folder)."""
    root = Path(root)
    if (root / "ILSVRC").is_dir():
        return root / "ILSVRC"
    if (root / "Data").is_dir() or (root / "devkit").is_dir() or (root / "ImageSets").is_dir():
        return root
    return root / "ILSVRC"


def devkit_data_dir(root: str | os.PathLike) -> Path:
    for cand in (ilsvrc_dir(root) / "devkit" / "data", Path(root) / "devkit" / "data"):
        if cand.is_dir():
            return cand
    return ilsvrc_dir(root) / "devkit" / "data"


def find_devkit_file(root: str | os.PathLike, preferred: str, *patterns: str) -> Path | None:
    """A devkit data file: ``preferred`` by name, else the newest match of each glob in turn."""
    folder = devkit_data_dir(root)
    if (folder / preferred).is_file():
        return folder / preferred
    for pattern in patterns:
        found = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if len(found) > 1:
            logger.warning("%s: several files match %s, using %s", folder, pattern, found[-1].name)
        if found:
            return found[-1]
    return None


def _first_existing(paths: Iterable[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def find_clsloc_synsets(root: str | os.PathLike) -> SynsetTable:
    """CLS-LOC classes of a data root: devkit map/mat first, Kaggle mapping (sorted order) last."""
    dk = devkit_data_dir(root)
    path = _first_existing([dk / "map_clsloc.txt", dk / "meta_clsloc.mat", dk / "meta.mat"])
    if path is not None:
        return read_synsets(path)
    kaggle = _first_existing([Path(root) / "LOC_synset_mapping.txt", ilsvrc_dir(root).parent / "LOC_synset_mapping.txt"])
    if kaggle is not None:
        logger.warning("%s: no devkit class map; devkit ids taken from the Kaggle mapping's (sorted) order", root)
        return read_synsets(kaggle)
    raise FileNotFoundError(
        f"{root}: no CLS-LOC class list (looked for {dk}/map_clsloc.txt, meta_clsloc.mat, meta.mat and "
        "LOC_synset_mapping.txt)")


def find_det_synsets(root: str | os.PathLike) -> SynsetTable:
    """DET classes of a data root, from ``map_det.txt`` or ``meta_det.mat``."""
    dk = devkit_data_dir(root)
    path = _first_existing([dk / "map_det.txt", dk / "meta_det.mat"])
    if path is None:
        raise FileNotFoundError(f"{root}: no DET class list (looked for {dk}/map_det.txt and meta_det.mat)")
    return read_synsets(path)

"""Classes of a devkit ``.mat`` (``meta_det.mat``, ``meta_clsloc.mat``, 2012's ``meta.mat``), as documented.

The ``synsets`` struct array has one row per synset: an integer id, a ``WNID`` and a name (``name``,
or ``words`` in the 2012-2014 CLS-LOC files). The devkit readmes fix which rows are classes:

* DET: the classes are the synsets with ids 1..200 (2014 and 2015 readmes). The 2013/2014 files add
  615 more synsets, ids 201..815, whose ``children`` links are a trimmed hierarchy: many of them hang
  above or below no class at all, so nothing is derived from those links (they are only checked to
  name synsets of the file).
* CLS-LOC: the classes are ids 1..1000, the 1000 low-level synsets, i.e. the leaves; ids above 1000
  are the 860 high-level synsets (2012 readme). A file with a hierarchy (``children`` or
  ``num_children``) must therefore have exactly its leaves as classes.
* The 2015 devkit's flat layout (no hierarchy fields, and what ``ilsvrc_pipe.synthetic`` writes)
  lists only the classes: every synset is a class.

Which task a file belongs to comes from its id field's name (``*_DET_ID`` for DET, the others for
CLS-LOC), not from the file's name: the field is part of the content, while files get renamed (the
2012 devkit calls its CLS-LOC file ``meta.mat``). The official DET scorer looks WNIDs up over every
synset of the file, so every WNID's id is kept too (:attr:`MatSynsets.synset_ids`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..utils.errors import DataFormatError

DET_ID_FIELDS = ("ILSVRC2013_DET_ID", "ILSVRC2014_DET_ID", "ILSVRC2015_DET_ID")
# ILSVRC2015_CLSLOC_ID: the 2015 devkit's name for the same field (its readme says only the name changed).
CLSLOC_ID_FIELDS = ("ILSVRC2012_ID", "ILSVRC2014_ID", "ILSVRC2015_ID", "ILSVRC2015_CLSLOC_ID")
TASK_OF_ID_FIELD = {**{f: "det" for f in DET_ID_FIELDS}, **{f: "clsloc" for f in CLSLOC_ID_FIELDS}}
CLASS_ID_LIMIT = {"det": 200, "clsloc": 1000}
TASK_LABEL = {"det": "DET", "clsloc": "CLS-LOC"}


@dataclass(frozen=True)
class MatSynsets:
    """What a devkit ``.mat`` says: its task, its classes in id order, and every synset's id."""

    task: str                         # "det" or "clsloc"
    id_field: str
    wnids: tuple[str, ...]            # the classes: wnids[i] has id i + 1
    names: tuple[str, ...]
    synset_ids: Mapping[str, int]     # every WNID of the file (classes and the others) -> its id
    # (a plain dict, so that tables holding it pickle and deep-copy)


@dataclass(frozen=True)
class _Row:
    id: int
    wnid: str
    name: str
    children: tuple[int, ...] | None   # None: the file has no ``children`` field
    is_leaf: bool | None               # None: the file has no hierarchy


def _load_synsets(path: Path) -> np.ndarray:
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=True)
    except Exception as exc:  # scipy raises several types for broken files
        raise DataFormatError(f"{path}: not a readable .mat file ({exc})") from exc
    if "synsets" not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise DataFormatError(f"{path}: expected a variable 'synsets' (a struct array), found {found}")
    arr = np.atleast_1d(mat["synsets"])
    if not arr.dtype.names or "WNID" not in arr.dtype.names:
        raise DataFormatError(f"{path}: 'synsets' must be a struct array with a WNID field "
                              f"(fields: {arr.dtype.names or ()})")
    if not len(arr):
        raise DataFormatError(f"{path}: 'synsets' holds no synsets")
    return arr


def _id_field(path: Path, fields: tuple[str, ...]) -> str:
    found = [f for f in fields if f in TASK_OF_ID_FIELD]
    if len(found) != 1:
        raise DataFormatError(f"{path}: expected one id field ({', '.join(TASK_OF_ID_FIELD)}), found {len(found)}"
                              f"{': ' + ', '.join(found) if found else ''} (fields: {fields})")
    return found[0]


def _int(value, path: Path, what: str) -> int:
    arr = np.asarray(value)
    if arr.size != 1:
        raise DataFormatError(f"{path}: {what}: expected one integer, got {arr.size} values")
    number = float(arr.reshape(-1)[0])
    if not number.is_integer():
        raise DataFormatError(f"{path}: {what}: expected an integer, got {number}")
    return int(number)


def _children(value, path: Path, what: str) -> tuple[int, ...]:
    try:
        numbers = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataFormatError(f"{path}: {what}: expected a vector of synset ids, got {value!r}") from None
    if not np.all(np.isfinite(numbers)) or not np.all(numbers == np.round(numbers)):
        raise DataFormatError(f"{path}: {what}: expected integer synset ids, got {numbers[:5].tolist()}")
    return tuple(int(n) for n in numbers)


def _read_rows(path: Path, arr: np.ndarray, id_field: str) -> list[_Row]:
    """One row per synset, sorted by id (the devkit stores them so; sorting costs nothing)."""
    fields = arr.dtype.names
    name_field = "name" if "name" in fields else ("words" if "words" in fields else None)
    rows = []
    for pos, rec in enumerate(arr, 1):
        wnid = str(rec["WNID"])
        where = f"synset {pos} ({wnid})"
        cid = _int(rec[id_field], path, f"{where} {id_field}")
        if cid < 1:
            raise DataFormatError(f"{path}: {where} {id_field}: expected an id >= 1, got {cid}")
        children = _children(rec["children"], path, f"{where} children") if "children" in fields else None
        if children is not None:
            is_leaf = not children
        elif "num_children" in fields:
            is_leaf = _int(rec["num_children"], path, f"{where} num_children") == 0
        else:
            is_leaf = None
        rows.append(_Row(cid, wnid, str(rec[name_field]) if name_field else "", children, is_leaf))
    return sorted(rows, key=lambda r: r.id)


def _check_unique(path: Path, rows: list[_Row], id_field: str) -> None:
    ids = [r.id for r in rows]
    dup_ids = sorted({i for i, j in zip(ids, ids[1:]) if i == j})
    if dup_ids:
        raise DataFormatError(f"{path}: {id_field} ids must be unique, got repeated ids {dup_ids[:5]}")
    wnids = [r.wnid for r in rows]
    if len(set(wnids)) != len(wnids):
        seen, dup = set(), []
        for w in wnids:
            if w in seen and w not in dup:
                dup.append(w)
            seen.add(w)
        raise DataFormatError(f"{path}: a WNID identifies one synset, but {dup[:5]} appear more than once")
    known = set(ids)
    for row in rows:
        unknown = [c for c in row.children or () if c not in known]
        if unknown:
            raise DataFormatError(f"{path}: synset id {row.id}: children {unknown[:5]} are not ids of any synset")


def _classes(path: Path, rows: list[_Row], task: str) -> list[_Row]:
    """The rows that are classes: ids 1..K, K at most the task's limit (see the module docstring)."""
    limit, label = CLASS_ID_LIMIT[task], TASK_LABEL[task]
    hierarchical = rows[0].is_leaf is not None
    if hierarchical:
        classes = [r for r in rows if r.id <= limit]
        if not classes:
            raise DataFormatError(f"{path}: no {label} class: no synset has an id in 1..{limit} "
                                  f"(ids {[r.id for r in rows[:5]]}...)")
    else:
        classes = rows
        if len(classes) > limit:
            raise DataFormatError(f"{path}: {len(classes)} classes (a file without 'children' lists only "
                                  f"classes), but the {label} task has at most {limit}")
    missing = next((k for k, r in enumerate(classes, 1) if r.id != k), None)
    if missing is not None:
        raise DataFormatError(f"{path}: the {label} classes (ids in 1..{limit}) must be ids 1..{len(classes)} "
                              f"with none left out; id {missing} is missing")
    if hierarchical and task == "clsloc":
        _check_leaves(path, rows, len(classes), limit)
    return classes


def _check_leaves(path: Path, rows: list[_Row], n_classes: int, limit: int) -> None:
    """CLS-LOC: the classes are exactly the leaves of the hierarchy."""
    what = f"{path}: the CLS-LOC classes (ids 1..{limit}) are the leaves of the hierarchy, but"
    for row in rows:
        if row.id <= n_classes and not row.is_leaf:
            raise DataFormatError(f"{what} id {row.id} ({row.wnid}) has children")
        if row.id > n_classes and row.is_leaf:
            raise DataFormatError(f"{what} id {row.id} ({row.wnid}) is a leaf past them")


def read_mat_synsets(path: str | Path) -> MatSynsets:
    """The task, classes (in id order) and every synset's id of a devkit ``.mat``; malformed files
    raise :class:`DataFormatError` naming the file."""
    path = Path(path)
    arr = _load_synsets(path)
    id_field = _id_field(path, arr.dtype.names)
    task = TASK_OF_ID_FIELD[id_field]
    rows = _read_rows(path, arr, id_field)
    _check_unique(path, rows, id_field)
    classes = _classes(path, rows, task)
    return MatSynsets(task, id_field, tuple(r.wnid for r in classes), tuple(r.name for r in classes),
                      {r.wnid: r.id for r in rows})

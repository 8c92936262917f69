"""Classes of a devkit ``.mat`` (``meta.mat``, ``meta_clsloc.mat``, ``meta_det.mat``) read from its hierarchy.

The ``synsets`` struct array holds more than the classes:

* 2012 ``meta.mat`` / 1860-row ``meta_clsloc.mat``: the 1000 classes (ids 1..1000, all leaves) and
  860 WordNet ancestors (ids 1001..1860).
* ``meta_det.mat`` (2013-2015): the 200 classes (ids 1..200, several WITH children, e.g. dog with its
  breeds), then 488 labeled descendants of classes and 127 ancestors, 815 rows.
* the 2015 readme's flat layout: only the classes, no ``children`` field.

"Keep the leaves" is right for CLS-LOC but wrong for DET (it drops classes with children and keeps
their descendants), so the rule used for every file is the one the devkit layouts share: the
classes are ids 1..K, where K is the first id that is an ancestor or a descendant of a lower id
(classes are never nested), and every other synset must hang above or below some class.  Files
without ``children`` but with ``num_children`` fall back to the leaves.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataFormatError

ID_FIELD_SUFFIX = "_ID"


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
    return arr


def _int(value, path: Path, what: str) -> int:
    arr = np.asarray(value)
    if arr.size != 1:
        raise DataFormatError(f"{path}: {what}: expected one integer, got {arr.size} values")
    number = float(arr.reshape(-1)[0])
    if not number.is_integer():
        raise DataFormatError(f"{path}: {what}: expected an integer, got {number}")
    return int(number)


def _children(value, path: Path, what: str) -> list[int]:
    try:
        numbers = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataFormatError(f"{path}: {what}: expected a vector of synset ids, got {value!r}") from None
    if not np.all(np.isfinite(numbers)) or not np.all(numbers == np.round(numbers)):
        raise DataFormatError(f"{path}: {what}: expected integer synset ids, got {numbers[:5].tolist()}")
    return [int(n) for n in numbers]


def _reachable(starts, links: dict[int, list[int]]) -> set[int]:
    """All ids reached from ``starts`` by following ``links`` one or more steps (cycle-safe)."""
    seen: set[int] = set()
    todo = [n for s in starts for n in links.get(s, ())]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(links.get(node, ()))
    return seen


def _class_count(ids: list[int], children: dict[int, list[int]]) -> int:
    """K: ids 1..K in order until one is above or below a lower id."""
    below_classes: set[int] = set()   # descendants of the classes found so far
    classes: set[int] = set()
    present = set(ids)
    k = 0
    while k + 1 in present:
        below = _reachable([k + 1], children)
        if k + 1 in below_classes or below & classes:
            break
        k += 1
        classes.add(k)
        below_classes |= below
    return k


def _related_to_classes(classes: set[int], children: dict[int, list[int]]) -> set[int]:
    """Ids below some class or above some class."""
    parents: dict[int, list[int]] = {}
    for parent, kids in children.items():
        for kid in kids:
            parents.setdefault(kid, []).append(parent)
    return _reachable(classes, children) | _reachable(classes, parents)


def _check_rest(path: Path, rows: list[tuple[int, str, str]], k: int, children: dict[int, list[int]]) -> None:
    """Every synset past the classes must be an ancestor or descendant of a class."""
    related = _related_to_classes(set(range(1, k + 1)), children)
    for cid, wnid, _ in rows[k:]:
        if cid not in related:
            raise DataFormatError(
                f"{path}: expected the classes to be ids 1..N followed by their WordNet ancestors and "
                f"descendants; synset {wnid} (id {cid}) is neither (classes found: ids 1..{k})")


def _leaf_classes(path: Path, rows: list[tuple[int, str, str]], leaves: set[int]) -> tuple[list[str], list[str]]:
    """Files with ``num_children`` but no ``children``: the classes are the leaves, ids 1..K."""
    kept = [r for r in rows if r[0] in leaves]
    if [r[0] for r in kept] != list(range(1, len(kept) + 1)):
        raise DataFormatError(f"{path}: class ids of the leaf synsets (num_children == 0) must be "
                              f"1..{len(kept)}, got {[r[0] for r in kept][:10]}...")
    return [r[1] for r in kept], [r[2] for r in kept]


def read_mat_classes(path: str | Path) -> tuple[list[str], list[str]]:
    """WNIDs and names of the classes of a devkit ``.mat``, in devkit id order."""
    path = Path(path)
    arr = _load_synsets(path)
    fields = arr.dtype.names
    id_field = next((f for f in fields if f.endswith(ID_FIELD_SUFFIX)), None)
    name_field = "name" if "name" in fields else ("words" if "words" in fields else None)
    rows, children, leaves = [], {}, set()
    for pos, rec in enumerate(arr, 1):
        wnid = str(rec["WNID"])
        where = f"synset {pos} ({wnid})"
        cid = _int(rec[id_field], path, f"{where} {id_field}") if id_field else pos
        if cid < 1:
            raise DataFormatError(f"{path}: {where} {id_field}: expected an id >= 1, got {cid}")
        rows.append((cid, wnid, str(rec[name_field]) if name_field else ""))
        if "children" in fields:
            children[cid] = _children(rec["children"], path, f"{where} children")
        elif "num_children" in fields and _int(rec["num_children"], path, f"{where} num_children") == 0:
            leaves.add(cid)
    rows.sort(key=lambda r: r[0])
    ids = [r[0] for r in rows]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise DataFormatError(f"{path}: {id_field or 'synset'} ids must be unique, got repeated ids {dup[:5]}")
    if "children" not in fields and "num_children" in fields:
        return _leaf_classes(path, rows, leaves)
    known = set(ids)
    for cid, kids in children.items():
        unknown = [c for c in kids if c not in known]
        if unknown:
            raise DataFormatError(f"{path}: synset id {cid}: children {unknown[:5]} are not ids of any synset")
    k = _class_count(ids, children)
    if k == 0:
        raise DataFormatError(f"{path}: expected the classes to be synset ids 1..N, got ids {ids[:10]}...")
    _check_rest(path, rows, k, children)
    return [r[1] for r in rows[:k]], [r[2] for r in rows[:k]]

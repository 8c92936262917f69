"""Fast path for plain devkit LOC files: whole-file array parsing instead of a Python loop per line.

A 50,000-line file costs ~1 s through the checked line reader, more than scoring it.  Nearly every
file is plain: ASCII digits, signs, points and exponents separated by spaces, every line a whole
number of ``<id> <x1> <y1> <x2> <y2>`` groups with integer ids in range and finite coordinates.
For such a file the result is exactly the line reader's (numbers are converted by Python's own
``float``); anything else returns ``None`` and the line reader decides, naming the bad line.
"""
from __future__ import annotations

import os
import re

import numpy as np

_PLAIN = re.compile(rb"[0-9 \t\n.eE+\-]*")
_BOM = b"\xef\xbb\xbf"


def _token_bytes(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which bytes belong to a token, and which start one (tokens are separated by blanks and newlines)."""
    is_token = (buf != ord(" ")) & (buf != ord("\t")) & (buf != ord("\n"))
    starts = is_token.copy()
    starts[1:] &= ~is_token[:-1]
    return is_token, starts


def _tokens_per_line(buf: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Line of each token and token count of each line (lines are separated by newlines)."""
    newlines = np.flatnonzero(buf == ord("\n"))
    token_line = np.searchsorted(newlines, np.flatnonzero(starts))  # newlines before the token
    return token_line, np.bincount(token_line, minlength=len(newlines) + 1)


_INTEGER_BYTES = np.zeros(256, dtype=bool)
_INTEGER_BYTES[[*b"0123456789-", *b" \t\n"]] = True   # the bytes of a file of integers
_MAX_DIGITS = 15                                     # integers below 10**15 are exact in float64


def _integer_values(buf: np.ndarray, is_token: np.ndarray, starts: np.ndarray) -> np.ndarray | None:
    """Every token's value when each is an integer of at most 15 digits with an optional leading
    ``-`` (the common file: pixel coordinates), computed on the bytes; else ``None``.

    Such values are exact in float64, so they equal Python's ``float`` of the text (``-0`` included),
    and the per-token split into Python objects, a third of a warm scoring call, is skipped. The
    digits are taken one column at a time over all tokens (a token rarely has more than 4), so no
    per-byte index array is built: a scoring call is a fresh process, and fresh memory costs."""
    if not _INTEGER_BYTES[buf].all():
        return None   # points, exponents or '+': Python's float decides
    minus = buf == ord("-")
    if (minus & ~starts).any():
        return None   # a '-' inside a token
    first = np.flatnonzero(starts)
    last = np.flatnonzero(is_token & ~np.append(is_token[1:], False))
    negative = minus[first]
    first = first + negative            # the first digit
    digits = last - first + 1
    if (digits <= 0).any() or (digits > _MAX_DIGITS).any():
        return None   # a lone '-', or more digits than float64 holds exactly
    values = np.zeros(len(first), dtype=np.float64)
    for k in range(int(digits.max())):
        more = digits > k
        column = buf[np.minimum(first + k, len(buf) - 1)].astype(np.float64) - ord("0")
        values = np.where(more, values * 10 + column, values)
    return np.where(negative, -values, values)


def read_plain_loc_file(path: str | os.PathLike, num_classes: int | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Labels (N, K) and boxes (N, K, 4) of a plain LOC file, padded with no-guess groups as the line
    reader pads them, or ``None`` (then read it with ``read_loc_file``'s line reader)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    data = data[len(_BOM):] if data.startswith(_BOM) else data
    if not data or not _PLAIN.fullmatch(data):
        return None
    body = data[:-1] if data.endswith(b"\n") else data  # a last newline ends a line, it starts none
    if not body:
        return None
    buf = np.frombuffer(body, dtype=np.uint8)
    is_token, starts = _token_bytes(buf)
    token_line, per_line = _tokens_per_line(buf, starts)
    if (per_line == 0).any() or (per_line % 5).any():
        return None
    values = _integer_values(buf, is_token, starts)
    if values is None:
        tokens = body.split()
        if not b"".join(tokens[0::5]).isdigit():  # every line holds whole groups: ids are every 5th token
            return None   # signs, points or exponents in an id: the line reader says what is wrong
        try:
            values = np.array(tokens, dtype=np.float64)  # Python's float(): the line reader's numbers
        except ValueError:
            return None
    elif np.signbit(values[0::5]).any():
        return None   # a signed id: the line reader says what is wrong
    groups = values.reshape(-1, 5)
    labels, coords = groups[:, 0], groups[:, 1:]
    if not np.isfinite(coords).all() or (labels > (num_classes if num_classes is not None else 2 ** 62)).any():
        return None
    group_line = token_line[0::5]
    per_line_groups = per_line // 5
    slot = np.arange(len(groups)) - (np.cumsum(per_line_groups) - per_line_groups)[group_line]
    out_labels = np.zeros((len(per_line), int(per_line_groups.max())), dtype=np.int64)
    out_boxes = np.zeros(out_labels.shape + (4,), dtype=np.float64)
    out_labels[group_line, slot] = labels.astype(np.int64)
    out_boxes[group_line, slot] = coords
    return out_labels, out_boxes

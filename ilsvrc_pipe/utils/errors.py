"""Errors raised for bad input: each names the file (and line) or the option, and what was expected.

Every tool catches :data:`USER_ERRORS` at its edge and prints one ``error: <message>`` line (exit
status 2) instead of a traceback: a traceback tells a user that the program is broken, when it is
their input that needs fixing.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path


class UserInputError(ValueError):
    """A file, a command-line option or a config the user gave is not what the tool expects."""


class DataFormatError(UserInputError):
    """A data or submission file does not have the expected form."""


class ImageDecodeError(DataFormatError):
    """An image file is truncated, corrupt or of an unknown format."""


# What a tool reports as one line: bad input, and files that are missing or of the wrong kind.
USER_ERRORS = (UserInputError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (KeyError's repr quotes removed)."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _looks_like_utf16(head: bytes) -> bool:
    """A UTF-16 byte-order mark, or ASCII text with a NUL byte beside every character."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    even, odd = head[0::2], head[1::2]
    return len(head) >= 4 and (even.count(0) == len(even) or odd.count(0) == len(odd)) and head.count(0) < len(head)


def describe_undecodable(path: str | os.PathLike) -> str:
    """Why ``path`` is not UTF-8 text, naming the line: UTF-16 and binary files are the usual
    results of a wrong save."""
    data = Path(path).read_bytes()
    if _looks_like_utf16(data[:64]):
        return f"{path}: looks like UTF-16 text; expected UTF-8 (or ASCII): save it as UTF-8"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return f"{path}:{line}: not a text file (byte 0x{data[exc.start]:02x} is not UTF-8); expected UTF-8 text"
    return f"{path}: not UTF-8 text"


@contextlib.contextmanager
def open_text(path: str | os.PathLike, newline: str | None = None):
    """``open(path)`` for reading UTF-8 text (a UTF-8 byte-order mark is skipped); a directory, or
    a file that does not decode (UTF-16, binary), raises :class:`DataFormatError` naming the file."""
    if Path(path).is_dir():
        raise DataFormatError(f"{path}: is a directory; expected a file")
    with open(path, "rb") as fh:
        if _looks_like_utf16(fh.read(64)):  # UTF-16 without a byte-order mark is valid UTF-8 (NULs)
            raise DataFormatError(describe_undecodable(path))
    try:
        with open(path, encoding="utf-8-sig", newline=newline) as fh:
            yield fh
    except UnicodeDecodeError:
        raise DataFormatError(describe_undecodable(path)) from None

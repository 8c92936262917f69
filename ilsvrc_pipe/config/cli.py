"""The edge of every tool: load the config and ``--cfg-options`` strictly, check the paths the user
named before any work starts, and report a user error as one line instead of a traceback.

A tool's ``main`` runs its body through :func:`run_guarded`: a :data:`USER_ERRORS` exception prints
``error: <message>`` on stderr and the tool exits with status 2 (argparse's status for usage errors).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from ..utils.errors import USER_ERRORS, UserInputError, one_line
from .options import parse_cfg_options

CONFIG_SUFFIXES = (".py", ".json", ".yaml", ".yml")
REPO_ROOT = Path(__file__).resolve().parents[2]
EXIT_USER_ERROR = 2


def report_user_error(exc: BaseException) -> int:
    """Print ``exc`` as one ``error:`` line on stderr; the exit status of a user error."""
    print(f"error: {one_line(exc)}", file=sys.stderr)
    return EXIT_USER_ERROR


def run_guarded(body: Callable[[], int]) -> int:
    """``body()``, with user errors reported as one line (status 2) rather than a traceback."""
    try:
        return body()
    except USER_ERRORS as exc:
        return report_user_error(exc)


def help_layout(doc: str, only: str | None = None) -> dict:
    """``ArgumentParser`` keywords that print a tool's docstring with its ``Examples::`` block last.

    A user reads ``--help`` from the bottom up: the commands to copy go last (the epilog), in the
    docstring's own line breaks. Everything after ``Examples::`` is the epilog; a tool without that
    block is a programming error (``tests/tools/test_tool_help.py`` parses every example). ``only``: a
    subcommand's help keeps the example lines that contain it (e.g. ``"evaluate.py det"``)."""
    head, mark, examples = (doc or "").partition("Examples::")
    if not mark:
        raise ValueError("the tool's docstring has no 'Examples::' block")
    lines = examples.strip("\n").splitlines()
    if only is not None:
        lines = [x for x in lines if only in x]
        head = ""
    indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    body = "\n".join("  " + x[indent:] if x.strip() else "" for x in lines)
    return {"description": head.strip(), "epilog": "examples:\n" + body,
            "formatter_class": argparse.RawDescriptionHelpFormatter}


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options KEY=VALUE ...``, kept as strings: they are checked against the loaded config."""
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override config keys, e.g. eval.seed=1 data.skip_corrupt_images=true "
                             "(the key must exist; +KEY=VALUE adds a new one)")


def _check_config_path(path: Path) -> None:
    if not path.exists():
        raise UserInputError(f"config file not found: {path}")
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory; expected a config file (.py)")
    if path.suffix.lower() not in CONFIG_SUFFIXES:
        raise UserInputError(f"{path}: expected a config file ending in .py (or .json, .yaml, .yml), "
                             f"got a {path.suffix or 'suffix-less'} file")
    if path.suffix.lower() == ".py":
        try:
            compile(path.read_bytes(), str(path), "exec")
        except SyntaxError as exc:
            raise UserInputError(f"{path}:{exc.lineno}: syntax error in the config ({exc.msg})") from None
        except ValueError as exc:  # NUL bytes: not Python source at all
            raise UserInputError(f"{path}: not a Python config ({one_line(exc)})") from None


def load_config(path: str | os.PathLike, options=None):
    """``Config.fromfile(path)`` with the ``--cfg-options`` merged strictly; every failure is a
    :class:`UserInputError` naming the file (a config is user code: whatever it raises is theirs)."""
    from mmengine.config import Config

    path = Path(path)
    if not path.exists() and not path.is_absolute() and (REPO_ROOT / path).is_file():
        path = REPO_ROOT / path   # the repository's own configs, whatever the working directory
    _check_config_path(path)
    try:
        cfg = Config.fromfile(str(path))
    except SyntaxError as exc:  # in a _base_ file (the config itself was compiled above)
        raise UserInputError(f"{path}: syntax error in a _base_ config (line {exc.lineno}: {exc.msg})") from None
    except FileNotFoundError as exc:
        raise UserInputError(f"{path}: cannot load the config: file not found: {exc.filename}") from None
    except Exception as exc:  # noqa: BLE001 - NameError, ImportError, mmengine's checks ...
        raise UserInputError(f"{path}: cannot load the config ({type(exc).__name__}: {one_line(exc)})") from None
    if options:
        cfg.merge_from_dict(parse_cfg_options(options, cfg.to_dict()))
    return cfg


def check_input_file(path: str | os.PathLike, option: str) -> Path:
    """A file the tool reads: it must exist and not be a directory."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{option} {path}: is a directory; expected a file")
    if not path.is_file():
        raise UserInputError(f"{option} {path}: file not found")
    return path


def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """A file the tool writes at the end: checked first, so that a long run does not fail at its end."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{option} {path}: is a directory; expected a file name")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UserInputError(f"{option} {path}: {parent} is a file, not a folder")
    return path


def check_folder(path: str | os.PathLike | None, option: str) -> Path | None:
    """A folder the tool creates or fills: it may be absent, but it must not be a file."""
    if path is None:
        return None
    path = Path(path)
    blocker = next((p for p in (path, *path.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise UserInputError(f"{option} {path}: {'it' if blocker == path else blocker} is a file; expected a folder")
    return path

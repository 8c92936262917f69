"""Every tool's ``--help`` ends with examples, and every example parses as written."""
from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
NAMES = sorted(p.stem for p in TOOLS.glob("*.py") if not p.name.startswith("_"))


def load(name: str):
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))  # the tools import their _bootstrap
    spec = importlib.util.spec_from_file_location(f"tool_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def examples(help_text: str, name: str) -> list[list[str]]:
    """The argument lists of the example lines that run this tool (torchrun lines included)."""
    block = help_text.split("\nexamples:\n", 1)[1]
    out = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        at = [i for i, w in enumerate(words) if w.endswith(f"tools/{name}.py")]
        if at:
            out.append(words[at[0] + 1:])
    return out


def test_every_tool_is_covered():
    assert {"evaluate", "make_mini_ilsvrc", "predict", "run_pipeline", "train"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_help_ends_with_examples_that_parse(name, capsys):
    tool = load(name)
    with pytest.raises(SystemExit) as exit_:
        tool.parse_args(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "\nexamples:\n" in text
    last = [x for x in text.splitlines() if x.strip()][-1]
    assert f"tools/{name}.py" in last, f"--help of {name} does not end with an example: {last!r}"
    argvs = examples(text, name)
    assert argvs, f"no example of tools/{name}.py in its --help"
    for argv in argvs:
        tool.parse_args(argv)  # argparse exits (status 2) on an example that does not parse


@pytest.mark.parametrize("task", ["loc", "det"])
def test_evaluate_subcommand_help_ends_with_its_own_examples(task, capsys):
    tool = load("evaluate")
    with pytest.raises(SystemExit) as exit_:
        tool.parse_args([task, "--help"])
    assert exit_.value.code == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.strip()]
    tail = lines[lines.index("examples:") + 1:]
    assert tail and all(f"tools/evaluate.py {task} " in x for x in tail)

"""Shared tail of every benchmark: print the readable table, write it and the JSON under results/."""
from __future__ import annotations

import json
from pathlib import Path


def publish(report: dict, lines: list[str], out: str | Path) -> None:
    """Print ``lines``; write ``report`` to ``out`` (JSON) and the text beside it (``.txt``)."""
    text = "\n".join(lines)
    print(text)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    out.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")

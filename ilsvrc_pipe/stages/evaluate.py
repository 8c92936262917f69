"""Stage ``eval``: score what the pipeline produced, through the official scorers, into one report.

Writes ``work_dir/eval/metrics.json`` (``cls``, ``loc`` and the ``baselines`` the ``loc`` stage
scored), ``loc_table.csv``, ``errors.png`` and a readable ``report.md``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..io_utils import write_json_atomic, write_table_atomic, write_text_atomic
from ..pipeline import StageContext, register_stage, registered_stages
from .data import read_class_lists


def _stage_metrics(ctx: StageContext, stage: str) -> dict | None:
    path = ctx.stage_dir(stage) / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _plot_errors(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [c for c in ("gt_class_error", "top1_error", "top5_error") if c in table]
    ax = table[cols].plot.barh(figsize=(7, 0.5 + 0.45 * len(table) * len(cols) / 2))
    ax.set_xlabel("error (official scorer)")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    fig = ax.get_figure()
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def _report(metrics: dict, table: pd.DataFrame) -> str:
    lines = ["# ilsvrc_pipe evaluation", "", "LOC rows (val split; errors from the official devkit rules):", "",
             "```", table.to_string(float_format=lambda x: f"{x:.4f}"), "```", ""]
    if "cls" in metrics:
        lines += ["Classification:", "", "```", json.dumps(metrics["cls"], indent=2), "```", ""]
    return "\n".join(lines)


@register_stage("eval", requires=("data", "cls", "rpn", "rcnn", "loc"))
def run_eval_stage(ctx: StageContext) -> dict:
    """Every finished stage's metrics (the baselines come with ``loc``'s) into metrics.json and a report."""
    out = ctx.out_dir
    metrics: dict = {"n_classes": len(read_class_lists(ctx.stage_dir("data"))["clsloc"])}
    rows: dict = {}
    for stage in registered_stages():
        m = _stage_metrics(ctx, stage) if stage not in ("data", "eval") else None
        if m is not None:
            metrics[stage] = m
            if isinstance(m.get("rows"), dict):
                rows.update({k: {c: v[c] for c in ("gt_class_error", "top1_error", "top5_error")}
                             for k, v in m["rows"].items()})
    metrics["baselines"] = metrics["loc"]["baselines"]
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "row"
    write_json_atomic(out / "metrics.json", metrics)
    write_table_atomic(table.reset_index(), out / "loc_table.csv")
    _plot_errors(table, out / "errors.png")
    write_text_atomic(out / "report.md", _report(metrics, table))
    ctx.logger.info("LOC table (val, official scorer):\n%s", table.to_string(float_format=lambda x: f"{x:.4f}"))
    return {"rows": rows}

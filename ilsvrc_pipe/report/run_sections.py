"""The report's sections about the run rather than its results: the submission files with their
scores, and what produced the figures (data root, stages, config against the paper's, versions)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .html import esc, link, note, num, pct, table
from .run_info import MISSING, config_differences, git_state, package_versions, paper_config, stage_rows


def _href(path: str, base: Path) -> str:
    """A link target for a file: relative to the page when it can be, else a ``file://`` URL."""
    try:
        return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()
    except ValueError:   # another drive (Windows)
        return Path(path).resolve().as_uri()


def _show(value) -> str:
    return value if value is MISSING else json.dumps(value)


def submissions_section(metrics: dict, loc_files: dict, det: dict, base: Path) -> str:
    """Every submission file, linked, with the score ``eval`` computed from it (test files have no
    ground truth, so no score)."""
    scored = metrics.get("submissions", {})
    rows = []
    for key, path in sorted(loc_files.items()):
        s = scored.get(key)
        if s and "top5_error" in s:
            score = (f"top-5 LOC error {pct(s['top5_error'])}%, top-1 {pct(s['top1_error'])}%; "
                     f"classification top-5 {pct(s['cls_top5_error'])}%")
        elif s:
            score = f"GT-class LOC error {pct(s['gt_class_error'])}%"
        else:
            score = "no ground truth (test split)"
        rows.append([link(_href(path, base), Path(path).name), "LOC", key, esc(score)])
    for split, path in sorted(det.get("files", {}).items()):
        score = (f"mAP {pct(det['submission_val2_mAP'])}% (official DET rules)"
                 if split == "val2" and "submission_val2_mAP" in det else "no ground truth (test split)")
        rows.append([link(_href(path, base), Path(path).name), "DET", esc(split), esc(score)])
    if not rows:
        return note("This run wrote no submission files.")
    return (note("Each file re-scored here from its bytes on disk (links are relative to this page).")
            + table(["file", "task", "kind", "score (computed from the file)"], rows, "submissions", left=4, raw=True))


def run_section(art, config: dict, data_root, stages) -> str:
    """Data root, folders, git commit, each stage's wall time and cache use, package versions, the
    config and its differences from the paper config."""
    git = git_state()
    facts = [["data root", str(Path(data_root).resolve())], ["work dir", str(art.work_dir.resolve())],
             ["submission folder", str(art.submission_dir.resolve())], ["git commit", git["commit"]],
             ["working tree", git["changes"]]]
    html = table(["", ""], facts, "run-facts", left=2)
    stage_table = [[r["stage"], r["finished"], num(r["seconds"], 1), r["status"]] for r in stage_rows(art, stages)]
    html += "<h3>Stages</h3>" + note("Wall time from each stage's manifest.json; a stage whose manifest was "
                                     "finished before this process started was reused from the cache.")
    html += table(["stage", "finished", "wall time (s)", "this invocation"], stage_table, "stages", left=2)
    versions = package_versions()
    html += "<h3>Package versions</h3>" + table(["package", "version"], list(versions.items()), "versions", left=2)
    html += "<h3>Configuration</h3>"
    ref = paper_config(list(config))
    if ref is None:
        html += note("The paper config (configs/ilsvrc2015/ilsvrc2015.py) is not beside the package: no comparison.")
    else:
        diffs = config_differences(config, ref)
        html += note(f"{len(diffs)} setting(s) differ from the paper config configs/ilsvrc2015/ilsvrc2015.py "
                     f"(sections {', '.join(config)}).")
        html += table(["key", "this run", "paper config"],
                      [[k, _show(a), _show(b)] for k, a, b in diffs], "config-diff", left=3)
    text = json.dumps(config, indent=2, default=str)
    html += f"<details><summary>The full configuration of this run</summary><pre>{esc(text)}</pre></details>"
    return html

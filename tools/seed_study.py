#!/usr/bin/env python
"""Run the whole pipeline on several generated presets and seeds, one run after another, and
tabulate Table 13, Table 9 and the classifiers side by side (settings must hold on data
they were not tuned on).

The seed is the generator's (``data.generate.seed``): each (preset, seed) is another dataset with
its own generated data root (``data/study/<preset>_s<seed>``) and work dir
(``work_dirs/study/<preset>_s<seed>``), so finished runs are reused by the pipeline's own caching
and a killed study resumes where it stopped. Runs are sequential on purpose: two PyTorch processes
on the same cores slow each other down several times. Writes ``OUT.json`` and ``OUT.md``.

Examples::

    python tools/seed_study.py --presets mini cluttered --seeds 0 1
    python tools/seed_study.py --presets cluttered --seeds 1 --collect-only   # tabulate finished runs
    # re-run what a changed RPN touches; Table 9 from the previous study's file
    python tools/seed_study.py --stage data,cls,rpn,rcnn,loc --table9-from previous.json
    # the global context study: both detectors with the same seed, each run's context row against refine
    python tools/seed_study.py --presets cluttered scenes --seeds 0 1 --stage data,cls,det \
        --work-root work_dirs/context_study --out benchmarks/results/context_study \
        --cfg-options det.models.1.seed=0 --compare refine_context:refine
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import _bootstrap  # noqa: E402

_bootstrap.start_thread_governor("off")   # its runs are tools/run_pipeline.py's

from ilsvrc_pipe.config.cli import help_layout, run_guarded
from ilsvrc_pipe.engine.rows import LOC_ROWS as TABLE13_ROWS
from ilsvrc_pipe.engine.rows import baseline_row
from ilsvrc_pipe.evaluation.baselines import KINDS as BASELINE_KINDS
from ilsvrc_pipe.synthetic import PRESETS

REPO = Path(__file__).resolve().parents[1]

CONFIGS = {"mini": "configs/mini/pipeline.py", "cluttered": "configs/mini/cluttered.py",
           "scenes": "configs/mini/scenes.py", "smoke": "configs/mini/smoke.py"}
WORK_ROOT = REPO / "work_dirs" / "study"
LOC_ROWS = [baseline_row(kind) for kind in BASELINE_KINDS] + list(TABLE13_ROWS)


def study_dirs(preset: str, seed: int, work_root: Path = WORK_ROOT) -> tuple[Path, Path]:
    """Work dir and generated data root of one (preset, seed). The data root is the same for every
    ``work_root``: studies with other settings share the generated data."""
    name = f"{preset}_s{seed}"
    return Path(work_root) / name, REPO / "data" / "study" / name


def run_one(preset: str, seed: int, stage: str, options: list[str], work_root: Path = WORK_ROOT,
            compare: list[tuple[str, str]] = ()) -> dict:
    """Run the pipeline for one (preset, seed); returns its figures and wall time."""
    name = f"{preset}_s{seed}"
    work_dir, data_root = study_dirs(preset, seed, work_root)
    cmd = [sys.executable, str(REPO / "tools" / "run_pipeline.py"), "--stage", stage,
           "--config", str(REPO / CONFIGS[preset]), "--work-dir", str(work_dir),
           "--cfg-options", f"data.root={data_root}", f"data.generate.seed={seed}", *options]
    print(f"[seed_study] {name}: {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    rc = subprocess.call(cmd, cwd=REPO)
    wall = time.perf_counter() - start
    if rc != 0:
        raise SystemExit(f"error: the {name} run failed (exit {rc}); its log is in {work_dir}/logs")
    return {"preset": preset, "seed": seed, "wall_s": round(wall, 1), **collect(work_dir, compare)}


def _metrics(work_dir: Path, stage: str) -> dict:
    path = work_dir / stage / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def collect(work_dir: Path, compare: list[tuple[str, str]] = ()) -> dict:
    """The figures of one finished run: classifier top-1 errors, Table 13 and Table 9, and for each
    ``(a, b)`` of ``compare`` Table 9's row a minus row b with its bootstrap interval over val2's images."""
    cls, loc, det = _metrics(work_dir, "cls"), _metrics(work_dir, "loc"), _metrics(work_dir, "det")
    mode = cls.get("ensemble_mode", "dense")
    members = {n: m.get(mode, {}).get("top1_error") for n, m in cls.get("models", {}).items()}
    return {"cls_top1": {**members, "ensemble": cls.get("ensemble", {}).get("top1_error")},
            "table13_gt_class": {r: loc.get("rows", {}).get(r, {}).get("gt_class_error") for r in LOC_ROWS},
            "table13_top5": {r: loc.get("rows", {}).get(r, {}).get("top5_error") for r in LOC_ROWS},
            "table9": {r: v.get("mAP") for r, v in det.get("rows", {}).items()},
            "table9_differences": {f"{a}-{b}": row_difference(work_dir, a, b) for a, b in compare}}


def row_difference(work_dir: Path, a: str, b: str) -> dict | None:
    """mAP of Table 9 row ``a`` minus row ``b`` on val2, with its 95 % interval from a paired bootstrap
    over the images (``evaluation/det_bootstrap.py``); None when the run has not written both rows."""
    from ilsvrc_pipe.artifacts.paths import Artifacts
    from ilsvrc_pipe.evaluation.det_bootstrap import paired_map_bootstrap
    from ilsvrc_pipe.submission.det_file import read_det_file

    art = Artifacts(work_dir)
    files = [art.det_row_file(row, "val2") for row in (a, b)]
    if not all(f.is_file() for f in files):
        return None
    return paired_map_bootstrap(*(read_det_file(f) for f in files), art.read_det_ground_truth("val2"))


def _pct(x):
    return "-" if x is None else f"{100 * x:.1f}"


def _map(x):
    return "-" if x is None else f"{x:.3f}"


def _interval(d):
    return "-" if d is None else f"{d['delta']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"


def markdown(results: list[dict]) -> str:
    """Side-by-side tables, one column per (preset, seed)."""
    heads = [f"{r['preset']} s{r['seed']}" for r in results]
    out = []

    def table(title, rows, get, fmt):
        out.append(f"\n{title}\n\n| row | " + " | ".join(heads) + " |\n|---|" + "---|" * len(heads))
        for row in rows:
            out.append(f"| {row} | " + " | ".join(fmt(get(r, row)) for r in results) + " |")

    members = list(dict.fromkeys(k for r in results for k in r["cls_top1"]))
    table("Classifiers, dense top-1 error on val (%)", members, lambda r, k: r["cls_top1"].get(k), _pct)
    table("Table 13, LOC error on the ground-truth class (%)", LOC_ROWS,
          lambda r, k: r["table13_gt_class"].get(k), _pct)
    table("Table 13, top-5 LOC error (%)", LOC_ROWS, lambda r, k: r["table13_top5"].get(k), _pct)
    det_rows = list(dict.fromkeys(k for r in results for k in r["table9"]))
    table("Table 9, val2 mAP", det_rows, lambda r, k: r["table9"].get(k), _map)
    diffs = list(dict.fromkeys(k for r in results for k in r.get("table9_differences", {})))
    if diffs:
        table("Table 9 differences on the same images, with the 95 % interval of a paired bootstrap over val2's "
              "images", diffs, lambda r, k: r.get("table9_differences", {}).get(k), _interval)
    earlier = sorted({r["table9_from"] for r in results if r.get("table9_from")})
    if earlier:
        out.append(f"\nTable 9 of {', '.join(h for h, r in zip(heads, results) if r.get('table9_from'))}: "
                   f"from {', '.join(earlier)} (those runs left out the det stage)")
    out.append("\nWall time per run (s): " + ", ".join(f"{h} {r['wall_s']}" for h, r in zip(heads, results)))
    return "\n".join(out) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(**help_layout(__doc__))
    parser.add_argument("--presets", nargs="+", default=["mini", "cluttered"], choices=sorted(CONFIGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--stage", default="all", help="stages to run for each (preset, seed)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "seed_study"),
                        help="writes OUT.json and OUT.md")
    parser.add_argument("--work-root", default=str(WORK_ROOT),
                        help="where the runs' work dirs go (one per preset and seed); a study with other "
                             "settings gets its own, so that it does not redo the default study's stages")
    parser.add_argument("--collect-only", action="store_true", help="tabulate finished runs, run nothing")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="more config overrides for every run")
    parser.add_argument("--compare", nargs="+", default=[], metavar="ROW_A:ROW_B",
                        help="also tabulate Table 9's row A minus row B of each run, with its bootstrap interval "
                             "over val2's images (e.g. refine_context:refine)")
    parser.add_argument("--table9-from", metavar="JSON",
                        help="an earlier study's OUT.json: Table 9 of runs whose --stage left out det")
    return parser.parse_args(argv)


def parse_pair(text: str) -> tuple[str, str]:
    """``A:B`` of ``--compare``: two Table 9 row names."""
    a, sep, b = text.partition(":")
    if not sep or not a or not b:
        raise SystemExit(f"error: --compare {text!r}: expected ROW_A:ROW_B, e.g. refine_context:refine")
    return a, b


def read_earlier_table9(path: str) -> dict[tuple[str, int], dict]:
    """``(preset, seed) -> Table 9`` of an earlier study's OUT.json."""
    return {(r["preset"], r["seed"]): r["table9"] for r in json.loads(Path(path).read_text()) if r.get("table9")}


def fill_table9(result: dict, earlier: dict[tuple[str, int], dict], path: str) -> None:
    """Take Table 9 from an earlier study when this run did not run ``det`` (the detectors share
    nothing with the stages a study re-ran; the table then says where the figures come from)."""
    old = earlier.get((result["preset"], result["seed"]))
    if not result["table9"] and old:
        result["table9"], result["table9_from"] = old, str(path)


def main(argv=None) -> int:
    args = parse_args(argv)
    assert set(CONFIGS) <= set(PRESETS)
    results = []
    earlier = read_earlier_table9(args.table9_from) if args.table9_from else {}
    compare = [parse_pair(text) for text in args.compare]
    for preset in args.presets:
        for seed in args.seeds:
            if args.collect_only:
                results.append({"preset": preset, "seed": seed, "wall_s": None,
                                **collect(study_dirs(preset, seed, args.work_root)[0], compare)})
            else:
                results.append(run_one(preset, seed, args.stage, args.cfg_options, Path(args.work_root), compare))
            if args.table9_from:
                fill_table9(results[-1], earlier, args.table9_from)
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.with_suffix(".json").write_text(json.dumps(results, indent=1))
            out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_guarded(lambda: main()))

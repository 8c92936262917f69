#!/usr/bin/env python
"""Score LOC or DET predictions with the official ILSVRC rules; prints a table, optionally writes JSON.

    python tools/evaluate.py loc --pred FILE (--data-root ROOT [--split val] |
                                              --gt-xml-dir DIR --synsets FILE [--blacklist FILE]) [--json-out FILE]
    python tools/evaluate.py loc --baseline full-image|center --data-root ROOT [--json-out FILE]
    python tools/evaluate.py det --pred FILE (--data-root ROOT [--split val|val1|val2] |
                                              --gt-xml-dir DIR --synsets FILE --image-list FILE [--blacklist FILE])
                                             [--json-out FILE] [--coco-out DIR] [--against FILE [--draws N]]

A LOC ``--pred`` is a devkit flat file or a Kaggle CSV (recognised by its ``ImageId,PredictionString``
header; rows are matched to the ground truth by ImageId).

Examples::

    # the official devkit's own example case, shipped with the tests
    python tools/evaluate.py det --pred tests/fixtures/scoring/det/pred.txt --gt-xml-dir tests/fixtures/scoring/det/Annotations --synsets tests/fixtures/scoring/synsets.txt --image-list tests/fixtures/scoring/det/val.txt --blacklist tests/fixtures/scoring/det/blacklist.txt
    # after `make run`: the submissions of the mini run
    python tools/evaluate.py loc --pred submissions/pipeline/loc_val.txt --data-root data/mini_ilsvrc
    python tools/evaluate.py loc --pred submissions/pipeline/loc_val.csv --data-root data/mini_ilsvrc --json-out /tmp/loc_val.json
    python tools/evaluate.py loc --baseline full-image --baseline center --data-root data/mini_ilsvrc
    python tools/evaluate.py det --pred submissions/pipeline/det_val2.txt --data-root data/mini_ilsvrc --split val2 --coco-out /tmp/coco_val2
    # is one Table 9 row ahead of another, or is it the images? (paired bootstrap over val2's images)
    python tools/evaluate.py det --pred work_dirs/pipeline/det/files/refine_val2.txt --against work_dirs/pipeline/det/files/baseline_val2.txt --data-root data/mini_ilsvrc --split val2
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ilsvrc_pipe.config.cli import check_folder, check_input_file, check_output_file, help_layout, report_user_error  # noqa: E402
from ilsvrc_pipe.data.class_lists import check_class_lists_agree  # noqa: E402
from ilsvrc_pipe.data.synsets import SynsetTable, find_clsloc_synsets, find_det_synsets, read_synsets  # noqa: E402
from ilsvrc_pipe.utils.errors import USER_ERRORS  # noqa: E402
from ilsvrc_pipe.utils.io_utils import write_json_atomic  # noqa: E402

BASELINES = ("full-image", "center")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(**help_layout(__doc__))
    tasks = parser.add_subparsers(dest="task", required=True)

    loc = tasks.add_parser("loc", help="top-k classification and localization error (eval_clsloc.m)",
                           **help_layout(__doc__, only="evaluate.py loc"))
    what = loc.add_mutually_exclusive_group(required=True)
    what.add_argument("--pred", help="devkit LOC file or Kaggle CSV")
    what.add_argument("--baseline", action="append", choices=BASELINES,
                      help="score a box baseline instead of a file (repeatable; needs --data-root)")
    loc.add_argument("--split", default="val", choices=["val"], help="CLS-LOC split with ground truth")
    loc.add_argument("--kaggle-labels", default="wnid", choices=["wnid", "sorted_index", "devkit_id"],
                     help="label form of a Kaggle CSV (default: WNIDs)")

    det = tasks.add_parser("det", help="per-class AP and mAP (eval_detection.m)",
                           **help_layout(__doc__, only="evaluate.py det"))
    det.add_argument("--pred", required=True, help="devkit DET file")
    det.add_argument("--split", default="val", choices=["val", "val1", "val2"],
                     help="val, or R-CNN's halves val1/val2 (scored on their official val indices); each half's "
                          "list is the first of ImageSets/DET/val<k>.txt, devkit/data/det_lists/val<k>.txt, "
                          "devkit/data/det_lists/ilsvrc13_val<k>.txt; with no val1 list, val1 is val minus val2 "
                          "minus the blacklisted images")
    det.add_argument("--image-list", help="'<stem> <index>' list of the scored images (with --gt-xml-dir)")
    det.add_argument("--numbered-by-split", action="store_true",
                     help="with --split val1/val2: the file numbers images by the split list's own 1..n "
                          "(R-CNN's val2 lists), not by their official val.txt index")
    det.add_argument("--drop-outside-split", action="store_true",
                     help="with --split val1/val2: the file holds detections of all val images; score "
                          "those of the split only (without it, a detection outside the split is an error)")
    det.add_argument("--coco-out", metavar="DIR",
                     help="also write DIR/results.json and DIR/ground_truth.json (COCO format, for pycocotools, "
                          "FiftyOne, mmdetection; README 'COCO export' lists how COCO's rules differ)")
    det.add_argument("--against", metavar="FILE",
                     help="a second devkit DET file of the same images: also print mAP(--pred) - mAP(FILE) and "
                          "its 95 %% interval from a paired bootstrap over the images")
    det.add_argument("--draws", type=int, default=1000, help="bootstrap draws of the images for --against")

    for sub in (loc, det):
        sub.add_argument("--data-root", help="dataset root holding ILSVRC/ (Annotations, ImageSets, devkit)")
        sub.add_argument("--gt-xml-dir", help="ground-truth XML directory (instead of --data-root)")
        sub.add_argument("--synsets", help="class list: devkit map file, 'wnid [name]' list or meta_*.mat")
        sub.add_argument("--blacklist", help="validation blacklist file (optional)")
        sub.add_argument("--json-out", help="also write the results as JSON here")
        sub.add_argument("--cache-dir", help="keep parsed ground-truth XMLs here, reused while no XML changes "
                                             "(default: $ILSVRC_PIPE_CACHE_DIR or ~/.cache/ilsvrc_pipe)")
        sub.add_argument("--no-cache", action="store_true", help="parse every ground-truth XML, write no cache")
    return parser


def _check_sources(args, parser: argparse.ArgumentParser) -> None:
    """Exactly one ground-truth source: a data root, or explicit files."""
    explicit = [args.gt_xml_dir, args.synsets] + ([args.image_list] if args.task == "det" else [])
    if args.data_root and (args.gt_xml_dir or args.synsets or args.blacklist or getattr(args, "image_list", None)):
        parser.error("give either --data-root or --gt-xml-dir/--synsets (not both)")
    if getattr(args, "baseline", None):
        if not args.data_root:
            parser.error("--baseline needs --data-root")
        return
    if not args.data_root and not all(explicit):
        need = "--gt-xml-dir, --synsets and --image-list" if args.task == "det" else "--gt-xml-dir and --synsets"
        parser.error(f"give --data-root, or {need}")
    split_options = getattr(args, "numbered_by_split", False) or getattr(args, "drop_outside_split", False)
    if split_options and not (args.data_root and args.split in ("val1", "val2")):
        parser.error("--numbered-by-split and --drop-outside-split need --data-root and --split val1 or val2")
    if getattr(args, "numbered_by_split", False) and args.drop_outside_split:
        parser.error("give --numbered-by-split or --drop-outside-split, not both")


def _check_paths(args) -> None:
    """Every path named on the command line, before any work: a wrong one fails at once, in one line."""
    if args.pred:
        check_input_file(args.pred, "--pred")
    if getattr(args, "against", None):
        check_input_file(args.against, "--against")
    for option in ("synsets", "blacklist", "image_list"):
        if getattr(args, option, None):
            check_input_file(getattr(args, option), f"--{option.replace('_', '-')}")
    for option in ("data_root", "gt_xml_dir"):
        folder = getattr(args, option)
        if folder and not check_folder(folder, f"--{option.replace('_', '-')}").is_dir():
            raise FileNotFoundError(f"--{option.replace('_', '-')} {folder}: folder not found")
    if args.json_out:
        check_output_file(args.json_out, "--json-out")
    if getattr(args, "coco_out", None):
        check_folder(args.coco_out, "--coco-out")


def _cache_dir(args):
    """Where parsed ground truth is kept (None: ``--no-cache``)."""
    from ilsvrc_pipe.evaluation.gt_cache import default_cache_dir

    return None if args.no_cache else (Path(args.cache_dir) if args.cache_dir else default_cache_dir())


def _fmt(value: float) -> str:
    return "nan" if isinstance(value, float) and math.isnan(value) else f"{value:.4f}"


def print_loc_table(result: dict) -> None:
    print(f"{'guesses':>7}  {'cls error':>9}  {'loc error':>9}")
    for k, (cls, loc) in enumerate(zip(result["cls_error"], result["loc_error"]), 1):
        print(f"{k:>7}  {_fmt(cls):>9}  {_fmt(loc):>9}")
    print(f"images: {result['n_images']}  blacklisted: {result['n_blacklisted']} "
          f"(localization error over {result['n_images'] - result['n_blacklisted']})")


def print_baseline_table(results: dict) -> None:
    """One row per baseline, one column per number it reports."""
    columns = [c for c in dict.fromkeys(k for r in results.values() for k in r)
               if all(isinstance(r.get(c), (int, float)) for r in results.values())]
    print(f"{'baseline':<12}" + "".join(f"  {c:>14}" for c in columns))
    for kind, result in results.items():
        cells = (_fmt(result[c]) if isinstance(result[c], float) else str(result[c]) for c in columns)
        print(f"{kind:<12}" + "".join(f"  {v:>14}" for v in cells))


def print_det_table(result: dict, synsets: SynsetTable) -> None:
    print(f"{'id':>4}  {'wnid':<10}  {'name':<24}  {'objects':>7}  {'AP':>7}")
    for cid, ap in result["ap"].items():
        wnid = synsets.wnid_of_id(cid)
        print(f"{cid:>4}  {wnid:<10}  {synsets.name_of(wnid)[:24]:<24}  {result['npos'][cid]:>7}  {_fmt(ap):>7}")
    print(f"mAP: {_fmt(result['mAP'])}  over {result['n_classes']} classes, "
          f"{result['n_images']} images, {result['n_detections']} detections")


def run_loc(args) -> dict:
    from ilsvrc_pipe.evaluation.ground_truth import load_loc_ground_truth
    from ilsvrc_pipe.evaluation.loc import evaluate_loc_file

    if args.baseline:
        from ilsvrc_pipe.evaluation.baselines import evaluate_baselines

        results = evaluate_baselines(args.data_root, list(args.baseline))
        print_baseline_table(results)
        return results
    if args.data_root:
        check_class_lists_agree(args.data_root, "clsloc")
        synsets = find_clsloc_synsets(args.data_root)
        gt = load_loc_ground_truth(data_root=args.data_root, split=args.split, cache_dir=_cache_dir(args))
    else:
        synsets = read_synsets(args.synsets)
        gt = load_loc_ground_truth(args.gt_xml_dir, synsets, args.blacklist, cache_dir=_cache_dir(args))
    result = evaluate_loc_file(args.pred, gt, synsets, args.kaggle_labels)
    print_loc_table(result)
    return result


def run_det(args) -> dict:
    from ilsvrc_pipe.data.det_records import check_det_blacklist
    from ilsvrc_pipe.evaluation.det import evaluate_det
    from ilsvrc_pipe.evaluation.det_split import read_split_det_file, unlisted_blacklist_note
    from ilsvrc_pipe.evaluation.ground_truth import load_det_ground_truth
    from ilsvrc_pipe.submission.det_file import read_det_file

    dropped = 0
    if args.data_root:
        check_class_lists_agree(args.data_root, "det")
        synsets = find_det_synsets(args.data_root)
        check_det_blacklist(args.data_root)
        gt = load_det_ground_truth(data_root=args.data_root, split=args.split, cache_dir=_cache_dir(args))
    else:
        synsets = read_synsets(args.synsets)
        gt = load_det_ground_truth(args.gt_xml_dir, synsets, args.image_list, args.blacklist,
                                   cache_dir=_cache_dir(args))
        note = unlisted_blacklist_note(gt.blacklist, gt.image_index, args.blacklist, args.image_list)
        if note:
            print(note, file=sys.stderr)
    def read(path):
        if args.data_root and args.split != "val":
            return read_split_det_file(path, args.data_root, args.split, len(synsets),
                                       args.numbered_by_split, args.drop_outside_split)
        return read_det_file(path, num_classes=len(synsets), image_indices=gt.image_index), 0

    detections, dropped = read(args.pred)
    if not len(detections):
        print(f"warning: {args.pred} holds no detections: every AP is 0", file=sys.stderr)
    result = evaluate_det(detections, gt)
    print_det_table(result, synsets)
    if args.against:
        result["against"] = compare_det(detections, read(args.against)[0], gt, args)
    if args.coco_out:
        write_coco(args, detections, gt, synsets)
    if dropped:
        print(f"dropped {dropped} detections of images outside {args.split} (--drop-outside-split)")
    return result


def compare_det(detections, other, gt, args) -> dict:
    """``--against``: the mAP difference of two files on the same images, with its bootstrap interval."""
    from ilsvrc_pipe.evaluation.det_bootstrap import paired_map_bootstrap

    if args.draws < 1:
        raise ValueError(f"--draws must be at least 1, got {args.draws}")
    boot = paired_map_bootstrap(detections, other, gt, draws=args.draws)
    print(f"mAP(--pred) - mAP({args.against}): {boot['delta']:+.4f}, 95 % interval [{boot['low']:+.4f}, "
          f"{boot['high']:+.4f}] over {boot['draws']} bootstrap draws of the {len(gt.image_index)} images; "
          f"--pred ahead in {100 * boot['share_positive']:.0f} % of them")
    return {"file": str(args.against), **boot}


def write_coco(args, detections, gt, synsets) -> None:
    """``--coco-out``: the scored detections and ground truth as COCO JSON."""
    from ilsvrc_pipe.data.synsets import ilsvrc_dir
    from ilsvrc_pipe.evaluation.coco_export import write_coco_exports

    if args.data_root:
        xml_dir = ilsvrc_dir(args.data_root) / "Annotations" / "DET" / "val"
        image_dir = ilsvrc_dir(args.data_root) / "Data" / "DET" / "val"
    else:
        xml_dir, image_dir = Path(args.gt_xml_dir), None
    paths = write_coco_exports(args.coco_out, detections, gt, synsets, xml_dir, image_dir)
    print(f"COCO files written: {paths['results']}, {paths['ground_truth']}")


def parse_args(argv=None):
    """The options, checked for consistency (not yet the paths: :func:`_check_paths`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_sources(args, parser)
    return args


def main(argv=None) -> int:
    """Exit status 0, or 2 with one ``error:`` line for bad input (as argparse does for bad usage)."""
    args = parse_args(argv)
    try:
        _check_paths(args)
        result = run_loc(args) if args.task == "loc" else run_det(args)
        if args.json_out:
            write_json_atomic(args.json_out, result)
            print(f"results written to {args.json_out}")
    except (*USER_ERRORS, ValueError, KeyError) as exc:  # the scorers' precondition errors too
        return report_user_error(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())

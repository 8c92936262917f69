"""Write the small synthetic ILSVRC-layout dataset (the pipeline's embedded default) to a folder.

The dataset is written atomically (temp folder beside --out, renamed at the end). See
``ilsvrc_pipe/synthetic/__init__.py`` for the layout, the presets and the list of deliberate traps.

Examples::

    python tools/make_mini_ilsvrc.py --out /tmp/smoke_ilsvrc --preset smoke --preview /tmp/smoke_preview.png
    python tools/make_mini_ilsvrc.py --out /tmp/mini_ilsvrc --seed 1 --overwrite   # the mini preset, another draw
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from ilsvrc_pipe.config.cli import check_folder, check_output_file, help_layout, report_user_error
from ilsvrc_pipe.synthetic import MARKER, PRESETS, generate_mini_ilsvrc, write_preview
from ilsvrc_pipe.utils.errors import USER_ERRORS


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(**help_layout(__doc__))
    parser.add_argument("--out", required=True, type=Path, help="dataset root to create (holds ILSVRC/ and the Kaggle files)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same bytes")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="mini", help="dataset kind: smoke (tiny), mini (default), cluttered (more classes, small objects, clutter), scenes (cluttered whose backgrounds and companions tell the class), "
                             "paper_size (few images at ImageNet's sizes, the ILSVRC2014 devkit's DET val lists)")
    parser.add_argument("--preview", type=Path, help="also write a contact sheet PNG with the XML boxes drawn")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    start = time.perf_counter()
    try:
        check_folder(args.out, "--out")
        if args.preview:
            check_output_file(args.preview, "--preview")
        root = generate_mini_ilsvrc(args.out, args.preset, args.seed, overwrite=args.overwrite)
    except (FileExistsError, *USER_ERRORS) as exc:
        return report_user_error(exc)
    seconds = time.perf_counter() - start
    counts = json.loads((root / MARKER).read_text())["counts"]
    print(f"wrote {root} (preset {args.preset}, seed {args.seed}) in {seconds:.1f} s")
    print("  " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    print(f"  traps: {root / 'traps.json'}")
    if args.preview:
        print(f"  preview: {write_preview(root, args.preview)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

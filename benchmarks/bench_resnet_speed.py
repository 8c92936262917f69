"""Images/s of small ResNet variants on this CPU: the numbers the mini configs are sized from.

For each variant (depth, width, stem, input size) it times, at batch 32, inference (eval, no
grad) and one training step (forward + backward + SGD), with contiguous vs ``channels_last``
tensors and 1 vs 2 intra-op threads. Results go to ``benchmarks/results/bench_resnet_speed.json``
and a readable ``.txt`` beside it.

    .venv/bin/python benchmarks/bench_resnet_speed.py            # full grid x3, ~10 min
    .venv/bin/python benchmarks/bench_resnet_speed.py --quick    # fewer variants
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import ilsvrc_pipe  # noqa: F401  (before torch: sets the OpenMP wait policy, ilsvrc_pipe/utils/openmp_env.py)
from ilsvrc_pipe.models.classification.classifier import ResNetClassifier

STEMS = {
    "std": dict(stem_kernel=7, stem_stride=2, stem_pool=True),      # total stride 32
    "light2": dict(stem_kernel=3, stem_stride=2, stem_pool=False),  # total stride 16
    "light1": dict(stem_kernel=3, stem_stride=1, stem_pool=False),  # total stride 8
}
# (depth, width, stem, input size)
VARIANTS = [
    (18, 0.25, "std", 64), (18, 0.25, "std", 96), (18, 0.25, "std", 112),
    (18, 0.25, "light2", 64), (18, 0.25, "light2", 96), (18, 0.25, "light2", 112),
    (18, 0.25, "light1", 64),
    (18, 0.5, "std", 96), (18, 0.5, "std", 112), (18, 0.5, "light2", 96),
    (34, 0.25, "std", 112), (50, 0.25, "std", 112),
]
QUICK = [(18, 0.25, "std", 96), (18, 0.25, "light2", 96), (18, 0.5, "std", 112)]
# variants also timed as two single-thread training processes running side by side
PARALLEL = [(18, 0.25, "std", 112), (18, 0.5, "std", 96)]
NUM_CLASSES = 100


def build(depth: int, width: float, stem: str) -> ResNetClassifier:
    return ResNetClassifier(dict(depth=depth, width=width, **STEMS[stem]), NUM_CLASSES)


def time_it(step, min_time: float, min_iters: int = 3, warmup: int = 1) -> float:
    """Median seconds per call of ``step`` after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    times = []
    start = time.perf_counter()
    while len(times) < min_iters or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(depth, width, stem, size, channels_last, threads, batch, min_time) -> dict:
    """images/s of inference and of a training step for one setting."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = build(depth, width, stem).to(memory_format=fmt)
    images = torch.randn(batch, 3, size, size).to(memory_format=fmt)
    labels = torch.randint(0, NUM_CLASSES, (batch,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    def infer():
        with torch.inference_mode():
            model.logits(images)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model.logits(images), labels).backward()
        optimizer.step()

    model.eval()
    t_inf = time_it(infer, min_time)
    model.train()
    t_train = time_it(train_step, min_time)
    return dict(depth=depth, width=width, stem=stem, size=size, channels_last=channels_last,
                threads=threads, batch=batch,
                params=sum(p.numel() for p in model.parameters()),
                infer_img_s=round(batch / t_inf, 1), train_img_s=round(batch / t_train, 1))


def format_table(rows: list[dict], metric_suffix: str = "best") -> str:
    """One line per variant: img/s for (contiguous / channels_last) x (1 / 2 threads)."""
    head = (f"{'model':<20}{'size':>5}{'params':>8}  {'infer 1t':>11}{'infer 2t':>12}  "
            f"{'train 1t':>11}{'train 2t':>12}")
    lines = [head, "-" * len(head)]
    keyed = {(r["depth"], r["width"], r["stem"], r["size"], r["channels_last"], r["threads"]): r
             for r in rows}
    variants = list(dict.fromkeys((r["depth"], r["width"], r["stem"], r["size"]) for r in rows))
    for key in variants:
        def cell(metric, threads):
            vals = [keyed.get((*key, cl, threads), {}).get(f"{metric}_{metric_suffix}")
                    for cl in (False, True)]
            return "/".join("-" if v is None else f"{v:.0f}" for v in vals)

        params = next(r["params"] for r in rows if (r["depth"], r["width"], r["stem"],
                                                     r["size"]) == key)
        lines.append(f"{f'R{key[0]} w{key[1]:g} {key[2]}':<20}{key[3]:>5}{params / 1e6:>7.2f}M  "
                     f"{cell('infer_img_s', 1):>11}{cell('infer_img_s', 2):>12}  "
                     f"{cell('train_img_s', 1):>11}{cell('train_img_s', 2):>12}")
    return "\n".join(lines)


def _train_alone(args) -> float:
    """Worker of :func:`measure_parallel`: training img/s of one single-thread process."""
    return measure(*args)["train_img_s"]


def measure_parallel(depth, width, stem, size, batch, min_time) -> dict:
    """Two single-thread processes training at once (two ensemble members side by side)."""
    ctx = multiprocessing.get_context("spawn")
    job = (depth, width, stem, size, True, 1, batch, min_time)
    with ctx.Pool(2) as pool:
        rates = pool.map(_train_alone, [job, job])
    return dict(depth=depth, width=width, stem=stem, size=size, channels_last=True,
                processes=2, threads=1, batch=batch, train_img_s_each=rates,
                train_img_s_total=round(sum(rates), 1))


def summarise(samples: list[dict]) -> list[dict]:
    """Best and median over repeats of each cell (best = least disturbed by other load)."""
    cells: dict[tuple, list[dict]] = {}
    for r in samples:
        key = tuple(r[k] for k in ("depth", "width", "stem", "size", "channels_last", "threads"))
        cells.setdefault(key, []).append(r)
    rows = []
    for runs in cells.values():
        row = {k: v for k, v in runs[0].items() if not k.endswith("_img_s")}
        for metric in ("infer_img_s", "train_img_s"):
            vals = [r[metric] for r in runs]
            row[f"{metric}_best"] = max(vals)
            row[f"{metric}_median"] = round(statistics.median(vals), 1)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 variants instead of the grid")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3,
                        help="passes over the grid; best and median are reported")
    parser.add_argument("--min-time", type=float, default=0.6, help="seconds timed per cell")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"
                                             / "bench_resnet_speed.json"))
    args = parser.parse_args()

    variants = QUICK if args.quick else VARIANTS
    samples = []
    for _ in range(args.repeats):
        for depth, width, stem, size in variants:
            for threads in (1, 2):
                for channels_last in (False, True):
                    row = measure(depth, width, stem, size, channels_last, threads, args.batch,
                                  args.min_time)
                    samples.append(row)
                    print(json.dumps(row), flush=True)
    parallel = []
    for variant in PARALLEL:    # best of the repeats, like the grid
        runs = [measure_parallel(*variant, args.batch, 2 * args.min_time)
                for _ in range(args.repeats)]
        parallel.append(max(runs, key=lambda r: r["train_img_s_total"]))
        print(json.dumps(parallel[-1]), flush=True)

    rows = summarise(samples)
    env = dict(torch=torch.__version__, cpu=platform.processor() or platform.machine(),
               cores=os.cpu_count(), load_avg_at_end=os.getloadavg(), batch=args.batch,
               repeats=args.repeats, min_time_s=args.min_time, num_classes=NUM_CLASSES,
               stems=STEMS)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(env=env, results=rows, parallel=parallel, samples=samples),
                              indent=1))
    par = "\n".join(
        f"R{p['depth']} w{p['width']:g} {p['stem']} {p['size']}: 2 processes x 1 thread, "
        f"channels_last, best of {args.repeats}: {p['train_img_s_total']:.0f} img/s training "
        f"in total ({' + '.join(f'{r:.0f}' for r in p['train_img_s_each'])})" for p in parallel)
    text = (f"ResNet speed: images/s at batch {args.batch}, {NUM_CLASSES} classes, "
            f"torch {torch.__version__}, {os.cpu_count()} cores.\n"
            f"Cells are contiguous/channels_last; 1t/2t = torch.set_num_threads; "
            f"train = forward+backward+SGD step.\n\n"
            f"Best of {args.repeats} passes (least disturbed by other load):\n"
            f"{format_table(rows, 'best')}\n\nMedian of {args.repeats} passes:\n"
            f"{format_table(rows, 'median')}\n\n{par}\n")
    out.with_suffix(".txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

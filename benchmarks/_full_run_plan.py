"""The arithmetic half of ``project_full_run.py``: how many units of work each stage of the full
ILSVRC 2015 pipeline does, and what that costs on K devices, from the measured unit costs.

Nothing here is measured; every number that is not a unit cost is an assumption written in
:data:`ASSUMPTIONS` (and printed with the results), so a reader can change one and re-project.
"""
from __future__ import annotations

#: real data sizes (ILSVRC 2015 CLS-LOC and DET)
COUNTS = {"loc_train": 1_280_000, "loc_boxed": 544_000, "loc_val": 50_000, "loc_test": 100_000,
          "det_train": 456_000, "det_val": 20_000, "det_test": 40_000}

ASSUMPTIONS = {
    "det_val1": 10_000,            # val1/val2: the R-CNN split halves DET val (20k)
    "det_val2": 10_000,
    "loc_classes_per_image": 5,    # rescored classes per val/test image: the top-5 (the member's top-5
                                   # and the GT class mostly coincide with the ensemble's)
    "rcnn_fg_per_image": 30,       # foreground regions (IoU >= 0.5 with a GT box, + the GT box) among
                                   # the top-200 GT-class proposals of a boxed training image; an R-CNN
                                   # epoch is fg / fg_fraction regions per image (loc_crops.RoICropDataset)
    "det_union_rois": 900,         # ensemble: union of 3 members' 300 proposals
    "scaling_efficiency": 1.0,     # K devices do K times the work (sharded inference, DDP training);
                                   # a lower bound on wall time, communication and I/O not counted
    "gpu_fp32_tflops": 15.7,       # V100 SXM2 fp32 peak
    "gpu_efficiency": 0.5,         # fraction of that peak the networks reach on the GPU
    "rpn_train_as_cls_train": True,  # RPN training step = classifier step (same trunk, 224 crops,
                                     # the head's loss on the GT class only)
    "rcnn_train_as_cls_train": True,  # R-CNN training per region = classifier step per 224 crop
}


def _epochs(cfg, section: str) -> int:
    return int(cfg[section]["train"]["max_epochs"])


def stage_work(u: dict, cfg, a: dict = ASSUMPTIONS) -> dict[str, dict]:
    """Per stage: ``{"seconds": on this machine, "what": how it was counted}``."""
    c = COUNTS
    n_cls, n_rpn, n_rcnn, n_det = (len(cfg[s]["models"]) for s in ("cls", "rpn", "rcnn", "det"))
    deeper = u["second_member_flops"] / u["fwd224_flops"]
    cls_factor = 1 + deeper * (n_cls - 1)                          # R-101 + R-152, in R-101 units
    loc_eval = c["loc_val"] + c["loc_test"]
    fg_fraction = float(cfg.rcnn["train"]["fg_fraction"])
    regions = a["rcnn_fg_per_image"] / fg_fraction
    rois = int(cfg.det["model"]["rpn_post_nms_top_n"]["testing"])
    one_scale = u["det_trunk_600"] + u["det_rpn_600"]
    multi = u["det_pyramid"] + u["det_rpn_600"]
    rows_val2 = {  # Table 9 rows, each computed on its own (as the det stage does)
        "baseline": one_scale + rois * u["det_roi"],
        "refine": one_scale + 2 * rois * u["det_roi"],
        "refine_context": one_scale + 2 * (rois + 1) * u["det_roi"],
        "refine_context_multiscale": multi + 2 * (rois + 1) * u["det_roi"],
        "ensemble": n_det * (multi + 2 * a["det_union_rois"] * u["det_roi"]),
    }
    return {
        "cls_train": {"seconds": c["loc_train"] * _epochs(cfg, "cls") * u["cls_train_img"] * cls_factor,
                      "what": f"{c['loc_train']:,} images x {_epochs(cfg, 'cls')} epochs x (R-101 + R-152 = "
                              f"{cls_factor:.2f} R-101) fwd+bwd at 224"},
        "cls_test": {"seconds": loc_eval * u["cls_dense_img"] * cls_factor,
                     "what": f"{loc_eval:,} val+test images, dense 5 scales x flip, both members"},
        "rpn_train": {"seconds": n_rpn * c["loc_boxed"] * _epochs(cfg, "rpn") * u["cls_train_img"],
                      "what": f"{n_rpn} RPNs x {c['loc_boxed']:,} boxed images x {_epochs(cfg, 'rpn')} epochs"},
        "rpn_proposals": {"seconds": n_rpn * (loc_eval + c["loc_boxed"]) * u["rpn_dense_img"],
                          "what": f"{n_rpn} RPNs x ({loc_eval:,} val+test + {c['loc_boxed']:,} boxed train) "
                                  "images, dense 5 scales"},
        "rcnn_train": {"seconds": n_rcnn * c["loc_boxed"] * regions * _epochs(cfg, "rcnn") * u["cls_train_img"],
                       "what": f"{n_rcnn} R-CNNs x {c['loc_boxed']:,} images x {regions:.0f} regions x "
                               f"{_epochs(cfg, 'rcnn')} epochs, fwd+bwd at 224"},
        "rcnn_rescore": {"seconds": n_rcnn * loc_eval * a["loc_classes_per_image"] * int(cfg.rcnn["test"]["top_k"])
                         * u["rcnn_crop"],
                         "what": f"{n_rcnn} R-CNNs x {loc_eval:,} images x {a['loc_classes_per_image']} classes x "
                                 f"{cfg.rcnn['test']['top_k']} proposals warped to 224"},
        "det_train": {"seconds": n_det * (c["det_train"] + a["det_val1"]) * _epochs(cfg, "det") * u["det_train_img"],
                      "what": f"{n_det} detectors x {c['det_train'] + a['det_val1']:,} images (train+val1) x "
                              f"{_epochs(cfg, 'det')} epochs at s=600"},
        "det_test": {"seconds": a["det_val2"] * sum(rows_val2.values()) + c["det_test"] * rows_val2["ensemble"],
                     "what": f"{a['det_val2']:,} val2 images x 5 Table 9 rows + {c['det_test']:,} test images x "
                             "the ensemble row",
                     "per_image_rows": rows_val2},
    }


def gpu_speedup(u: dict, a: dict = ASSUMPTIONS) -> float:
    """How many times faster one GPU is than this machine: its effective fp32 rate over the rate
    this machine reaches in the R-101 forward at 224 (assumed the same for every stage)."""
    cpu_rate = u["fwd224_flops"] / u["fwd224_img"]
    return a["gpu_fp32_tflops"] * 1e12 * a["gpu_efficiency"] / cpu_rate


def detectron2_check(u: dict, a: dict = ASSUMPTIONS) -> dict:
    """detectron2's R101-C4 model zoo inference (0.139 s/image on a V100: shorter side 800, longer
    <= 1333, 1000 proposals, one scale) against this projection: the same network's FLOPs (trunk
    scaled by pixels, conv5 per RoI) give the rate that time implies on the V100, and the projection
    (this machine's time / speed-up) gives the time the assumed GPU efficiency predicts."""
    pixels = (800 * 1067) / (600 * 800)
    flops = u["det_trunk_600_flops"] * pixels + 1000 * u["det_roi_flops"]
    here = (u["det_trunk_600"] + u["det_rpn_600"]) * pixels + 1000 * u["det_roi"]
    implied = flops / 0.139
    return {"gflop": flops / 1e9, "this_machine_s": here, "projected_v100_s": here / gpu_speedup(u, a),
            "detectron2_v100_s": 0.139, "implied_tflops": implied / 1e12,
            "implied_gpu_efficiency": implied / (a["gpu_fp32_tflops"] * 1e12)}


def project(work: dict, speedup: float, devices=(1, 8), a: dict = ASSUMPTIONS) -> dict:
    """Hours per stage and in total, on K machines like this one (``cpu_xK_h``) and on K GPUs."""
    eff = a["scaling_efficiency"]
    out = {}
    for name, row in {**work, "total": {"seconds": sum(r["seconds"] for r in work.values())}}.items():
        out[name] = {}
        for k in devices:
            out[name][f"cpu_x{k}_h"] = row["seconds"] / 3600 / (k * eff)
            out[name][f"gpu_x{k}_h"] = row["seconds"] / speedup / 3600 / (k * eff)
    return out

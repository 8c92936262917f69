"""The `cluttered` preset differs from mini the way real data does: more classes, identities mini
never draws, objects down to 15 % of the shorter side, more distractors; mini stays as it was."""
from __future__ import annotations

import numpy as np

from ilsvrc_pipe.synthetic.identities import _CATALOGUE, MINI_CATALOGUE, SHAPES
from ilsvrc_pipe.synthetic.plan import PRESETS, plan_dataset, render_job
from ilsvrc_pipe.synthetic.scene import MINI_STYLE


def _rel_sides(plan, jobs):
    out = []
    for job in jobs:
        scene = render_job(plan, job)
        for o in scene.objects:
            x1, y1, x2, y2 = o.box
            out.append(np.sqrt((x2 - x1 + 1) * (y2 - y1 + 1)) / min(job.width, job.height))
    return np.asarray(out)


def test_cluttered_has_more_classes_and_identities_mini_never_draws():
    plan = plan_dataset("cluttered", 0)
    assert len(plan.cls_ids) == 14 > PRESETS["mini"]["cls_classes"]
    mini_shapes = {shape for shape, _, _ in _CATALOGUE[:MINI_CATALOGUE]}
    new = {plan.identities[i].shape for i in plan.cls_ids + plan.det_ids} - mini_shapes
    assert len(new) >= 4 and new <= set(SHAPES)
    mini = plan_dataset("mini", 0)
    assert {ident.shape for ident in mini.identities} <= mini_shapes


def test_cluttered_objects_reach_down_to_15_percent_of_the_shorter_side():
    plan, mini = plan_dataset("cluttered", 0), plan_dataset("mini", 0)
    jobs = [j for j in plan.by_split("cls_val") if j.n_objects == 1][:60]
    sides = _rel_sides(plan, jobs)
    mini_sides = _rel_sides(mini, [j for j in mini.by_split("cls_val") if j.n_objects == 1][:60])
    assert sides.min() < 0.2 and sides.max() > 0.6
    assert np.mean(sides < 0.25) > 0.15 > np.mean(mini_sides < 0.25)


def test_mini_keeps_the_default_style():
    assert "style" not in PRESETS["mini"] and "catalogue" not in PRESETS["mini"]
    assert PRESETS["cluttered"]["style"] != MINI_STYLE

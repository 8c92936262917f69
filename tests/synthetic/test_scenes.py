"""The `scenes` preset: `cluttered` whose scenes carry class evidence outside the object (habitats,
companions, look-alike DET classes), while `cluttered` keeps class-free backgrounds."""
from __future__ import annotations

import colorsys

import numpy as np
import pytest

from ilsvrc_pipe.synthetic.context import HABITATS, SceneContext, companion, habitat_of
from ilsvrc_pipe.synthetic.plan import PRESETS, plan_dataset, render_job

CONTEXT = PRESETS["scenes"]["style"].context


def _border_habitat(image: np.ndarray) -> int:
    """The habitat whose hue is nearest the median colour of the image's 3-pixel border."""
    border = np.concatenate([image[:3].reshape(-1, 3), image[-3:].reshape(-1, 3),
                             image[:, :3].reshape(-1, 3), image[:, -3:].reshape(-1, 3)])
    hue = colorsys.rgb_to_hsv(*(np.median(border, axis=0) / 255))[0]
    return int(np.argmin([min(abs(hue - h), 1 - abs(hue - h)) for h, _ in HABITATS[:CONTEXT.habitats]]))


def _det_val_evidence(preset: str, seed: int = 0):
    """Share of DET val images on their first class's habitat, and share of extra objects that are
    the first class's companion."""
    plan = plan_dataset(preset, seed)
    on_habitat, extra, companions = [], 0, 0
    for job in plan.by_split("det_val"):
        scene, first = render_job(plan, job), job.classes[0]
        on_habitat.append(_border_habitat(scene.image) == habitat_of(first, CONTEXT))
        others = [o.identity for o in scene.objects if o.annotated][1:]
        extra += len(others)
        companions += sum(i == companion(first, plan.det_ids, CONTEXT) and i != first for i in others)
    return float(np.mean(on_habitat)), companions / max(extra, 1)


def test_scene_backgrounds_tell_the_class_habitat_and_cluttered_ones_do_not():
    scenes_habitat, scenes_companions = _det_val_evidence("scenes")
    cluttered_habitat, cluttered_companions = _det_val_evidence("cluttered")
    # a non-learned reader (border hue -> nearest habitat) finds the class's habitat on most scenes
    # images, and at about chance (1 in 3) on cluttered's class-free backgrounds
    assert scenes_habitat > 0.65 and cluttered_habitat < 0.5
    # half of a scenes image's extra objects are its first class's companion; on cluttered about 1 in 10
    assert scenes_companions > 0.3 > 0.2 > cluttered_companions


def test_lookalike_pairs_share_their_look_and_differ_in_hue_and_habitat():
    scenes, cluttered = plan_dataset("scenes", 1), plan_dataset("cluttered", 1)
    n_cls, shared = PRESETS["scenes"]["cls_classes"], PRESETS["scenes"]["det_shared"]
    assert scenes.identities[:n_cls] == cluttered.identities[:n_cls]   # the CLS-LOC classes are cluttered's
    det_only = list(range(n_cls, len(scenes.identities)))
    assert len(det_only) == PRESETS["scenes"]["det_classes"] - shared == 6
    for first, second in zip(det_only[0::2], det_only[1::2]):
        a, b = scenes.identities[first], scenes.identities[second]
        assert (a.shape, a.pattern, a.tone) == (b.shape, b.pattern, b.tone) and a.name != b.name
        assert (b.hue - a.hue) % 1.0 == pytest.approx(CONTEXT.lookalike_hue)
        assert habitat_of(first, CONTEXT) != habitat_of(second, CONTEXT)
        assert first in scenes.det_ids and second in scenes.det_ids
    assert len({i.name for i in scenes.identities}) == len(scenes.identities)


def test_companion_is_the_next_class_of_the_same_habitat():
    ctx = SceneContext(habitats=3)
    pool = [14, 15, 10, 13, 16, 17]
    assert companion(14, pool, ctx) == 17          # 14 % 3 == 17 % 3, nothing of that habitat between
    assert companion(17, pool, ctx) == 14          # cyclic
    assert companion(15, pool, ctx) == 15          # alone in its habitat
    with pytest.raises(ValueError, match="habitats"):
        SceneContext(habitats=len(HABITATS) + 1)


def test_other_presets_draw_no_context():
    assert all(PRESETS[p].get("style") is None or PRESETS[p]["style"].context is None
               for p in PRESETS if p != "scenes")

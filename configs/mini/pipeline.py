# The embedded default: the generated `mini` ILSVRC-layout dataset, sized for 2 CPU cores.
# Model sizes come from benchmarks/results/bench_resnet_speed.txt (training img/s on this machine).
_base_ = ['../_base_/pipeline.py']

cls = dict(
    # Ensemble of two different classifiers (different depth and width), averaged softmax scores.
    # The ResNet-34's residual branches end in a BN that starts at zero (Goyal et al. 2017;
    # torchvision's zero_init_residual): on the `cluttered` preset this deep, narrow network did not
    # learn in 22 epochs without it (61 % dense top-1 error, training loss 1.9) and does with it
    # (19 %). The ResNet-18 learns either way (cluttered: 22.9 % without, 23.8 % with; mini s0:
    # dense 1.5 % without, 7.5 % with), so it keeps the default init.
    models=[
        dict(name='resnet18_w050', backbone=dict(depth=18, width=0.5)),
        dict(name='resnet34_w025', backbone=dict(depth=34, width=0.25, zero_init_residual=True), seed=1),
    ],
    train=dict(
        scale=(88, 136),        # paper [256, 480]: shorter side random in [S_min, S_max]
        crop=80,                # paper 224
        pca_std=0.1,
        batch_size=32,          # paper 256
        lr=0.05,                # paper 0.1 at batch 256
        milestones=(14, 19),    # lr / 10 at these epochs
        max_epochs=22,
        cache_images=True,      # 800 small images fit in memory
        num_workers=0,
    ),
    test=dict(
        scale=92, crop=80,                   # paper: shorter side 256, centre 224
        dense_scales=[80, 92, 112, 136],     # paper {224, 256, 384, 480, 640}
        # dense_average='logits' (the default): each score map averaged over positions, then
        # softmaxed, as in the paper's [41]. 'probs' (softmax per position, then averaged) gave
        # 20.0 -> 22.9 / 14.8 -> 19.0 % dense top-1 error for the two members on cluttered s0 and
        # made the ensemble worse than its best member on mini s1 (docs/results.md#two-presets-two-seeds-each).
        batch_images=64,
    ),
    ensemble_mode='dense',
    num_threads=2,
    log_interval=25,
)

rpn = dict(
    # One per-class RPN per localizer of the ensemble, each from a classifier of `cls`. Both start
    # from the stronger classifier (the paper localizes with ResNet-101 models only): a localizer from
    # resnet34_w025 was the weaker one (its R-CNN 6.6% GT-class error against 3.1%) and pulled the
    # ensemble to 6.1%; two seeds of the ResNet-18 one give 2.6% (README, "Results").
    models=[
        dict(name='rpn_r18', init_from='resnet18_w050'),
        dict(name='rpn_r18b', init_from='resnet18_w050', seed=1),
    ],
    out_stage=2,   # conv4 (stride 16): the 80 px crops give conv5 only a 3x3 map (see README)
    # Anchors: 12 (width, height) shapes clustered (k-means, 1 - IoU) from the CLS-LOC training
    # boxes as training resizes them, written to rpn/anchors.json. Boxes smaller than 32 px (twice
    # the stride) count at 32 px: smaller anchors could not be matched from the stride-16 grid.
    # On `cluttered` (objects down to 15 % of the side) this gave 37.4 % dense GT-class error where
    # the hand-set grid below, fitted to mini's 38-80 px objects, gave 40.8 % and unfloored k-means
    # 42.2 % (one RPN, lr 0.05). The grid is what a config without `anchor_fit` uses.
    anchor_fit=dict(count=12, min_side=32),
    model=dict(
        anchor_scales=(32, 48, 64, 80),
        anchor_ratios=(0.67, 1.0, 1.5),
        head_channels=128,
        # Shared across classes (models/localization/per_class_rpn.py): one box regressor per anchor, and a
        # class-agnostic objectness logit added to each class's. With per-class ones only, each of
        # the 12 x 14 regressors of `cluttered` saw a few hundred positives in training; one RPN's
        # dense GT-class error went 48.5 -> 36.4 % (shared regressor) -> 32.5 % (+ objectness) on
        # cluttered s0 (docs/studies.md#what-made-the-per-class-rpn-work-on-cluttered).
        class_agnostic_reg=True, shared_objectness=True,
        num_samples=16, positive_fraction=0.5,  # paper: 8 anchors per image, 1:1; 16: 32.5 -> 26.2 %
        pos_iou=0.7, neg_iou=0.3,
        nms_iou=0.7, top_k=200,                 # paper: top-200 proposals per class
    ),
    # lr 0.05: at 0.02 the per-class scores barely left chance for 8 epochs on `cluttered` (14
    # classes: each class's head sees 1/14 of a batch) and ended at BCE 0.50 (dense error 51.9 %
    # against 40.8 % at 0.05 and 46.1 % at 0.1).
    # crop 112 (was 80): at the dense scales objects grow past an 80 px crop, so no training crop
    # showed them whole and the RPN proposed their parts; one RPN's dense error, cluttered s0 / s1,
    # 26.2 / 41.3 % -> 24.8 / 35.4 % (docs/studies.md, the RPN table).
    # 28 epochs, lr / 10 at 20 (was 14, at 10): one RPN's dense error, cluttered s0 / s1, mini
    # s0 / s1, 24.8 / 35.4 / 9.2 / 4.1 % -> 15.5 / 27.2 / 5.1 / 3.1 % (20 epochs: 21.4 / 32.0 on
    # cluttered; docs/studies.md, the RPN table); each RPN costs ~30 s more in `make run`
    # (docs/results.md#make-run-time).
    train=dict(crop=112, scale=(88, 136), batch_size=32, lr=0.05, milestones=(20,), max_epochs=28,
               cache_images=True),
    test=dict(scale=92, crop=80, dense_scales=[80, 92, 112, 136]),
    num_threads=2,
    log_interval=25,
)

rcnn = dict(
    # Localizer i = (rpn.models[i], rcnn.models[i]); each R-CNN starts from a classifier.
    models=[
        dict(name='rcnn_r18', rpn='rpn_r18', init_from='resnet18_w050'),
        dict(name='rcnn_r18b', rpn='rpn_r18b', init_from='resnet18_w050', seed=1),
    ],
    model=dict(crop_size=64, context_pad=0, box_coder_weights=(10.0, 10.0, 5.0, 5.0)),  # paper: 224 warp
    train=dict(
        top_k=20,                       # paper: the top-200 proposals of the GT class per image
        fg_iou=0.5, bg_iou=(0.1, 0.5), fg_fraction=0.25,
        batch_size=64,                  # paper: RoI-centric mini-batches of 256 regions
        # lr 0.03 for 5 epochs, lr / 10 at 4 (was 0.01 for 8, at 6): at 0.01 the loss was still
        # falling steadily when the rate dropped, and fewer epochs at 0.01 lost (5: 10.2 % GT-class
        # error on cluttered s1 against 5.8 %). On the seed study's four datasets the single
        # localizer's GT-class error went 3.1 / 2.6 / 3.9 / 6.3 -> 1.5 / 1.5 / 3.4 / 7.8 % and the
        # ensemble's 2.6 / 2.0 / 1.5 / 7.3 -> 2.6 / 1.5 / 1.9 / 6.3 %, for about 85 s less of the
        # rcnn stage in `make run` (201 against 285 s; docs/studies.md#cheaper-settings-for-make-run-screened).
        lr=0.03, milestones=(4,), max_epochs=5, cache_images=True),
    # paper: 200 proposals per class. The top 25 of each RPN (union of the two: <= 50 per class)
    # halve the rescoring time of the top 50; rpn_rcnn_dense 5.1% (top 25) vs 6.1% (top 50).
    test=dict(top_k=25, batch_size=256),
    num_threads=2,
    # The two members train at once, one process and one thread each (engine/side_by_side.py): two
    # threads keep these small convolutions only partly busy: R-CNNs finish 1.20x and detectors 1.17x
    # sooner (benchmarks/results/bench_side_by_side_full.txt). Not for cls (its ResNet-34 finishes long
    # before its ResNet-18, which then runs alone on one thread) nor rpn (slower in bench_side_by_side.txt).
    side_by_side=True,
    log_interval=25,
)

det = dict(
    # C4 Faster R-CNN (appendix A) from the ResNet-18 w0.5 classifier (CLS-LOC pre-training, DET
    # fine-tuning). RPN and Fast R-CNN train jointly (approximate joint training, as torchvision and
    # detectron2 do): the paper's 4-step alternating training would cost four trainings per detector.
    models=[
        dict(name='det_plain', init_from='resnet18_w050'),
        dict(name='det_context', init_from='resnet18_w050', context=True, seed=1),   # global context branch
    ],
    model=dict(
        anchor_sizes=(24, 48, 96, 160), anchor_ratios=(0.5, 1.0, 2.0),
        rpn_pre_nms_top_n=dict(training=600, testing=300), rpn_post_nms_top_n=dict(training=200, testing=50),
        rpn_batch_size=64, roi_batch_size=32,      # paper: 256 anchors, 128 RoIs per image
        roi_pool='roi_pool', roi_output_size=8,    # paper: RoIPool 14x14 before conv5 (-> 7x7)
        frozen_stages=1,
    ),
    # One training scale, the test scale of 160, as the paper trains ("we have not performed multi-scale
    # training because of limited time"). Drawing each image's shorter side from 128, 160 and 192 instead
    # gave, on mini s0 with the same classifiers and seeds, val2 mAP baseline / refine / refine_context /
    # refine_context_multiscale / ensemble 0.600 / 0.611 / 0.605 / 0.636 / 0.652 against 0.601 / 0.612 /
    # 0.555 / 0.611 / 0.659 at 160 alone, every difference inside its bootstrap interval over val2's
    # images, for 6 % more det time (docs/mini.md).
    train=dict(splits=('train', 'val1'), scales=(160,), max_size=320, batch_size=4,
               lr=0.02, milestones=(5,), max_epochs=6, cache_images=True),
    # pyramid_max_size: no cap on the pyramid's longer side, every level exact at any aspect ratio (mini's
    # images, 0.75-1.33, resize as under the 400 cap; a 1000x200 panorama lost two levels to it)
    # maxout: the paper's placement, conv5 on each of the two scales then maxout (docs/results.md
    # compares it with 'before_conv5')
    test=dict(scale=160, pyramid=(112, 160, 224), max_size=400, pyramid_max_size=None, target_size=64,
              maxout='after_conv5', nms_iou=0.3, vote_iou=0.5, max_per_image=100),
    rows=dict(baseline='det_plain', refine='det_plain', refine_context='det_context',
              refine_context_multiscale='det_context', ensemble=['det_plain', 'det_context']),
    num_threads=2,
    side_by_side=True,   # as rcnn's
    log_interval=25,
)

# The paper config with only its counts cut, so that every stage runs at the paper's sizes in minutes on
# two CPU processes: image sizes, training and test scales, crops, the DET pyramid, proposal counts, NMS
# thresholds, batch sizes and the batch rule are those of ilsvrc2015.py. What is cut: epochs (one each),
# images per split (data.max_images below), how many proposals the R-CNN trains and tests on, ensemble sizes
# (one classifier, one localizer, two detectors) and the depth (ResNet-18).
#
#   torchrun --nproc_per_node 2 tools/run_pipeline.py --stage all --launcher pytorch \
#       --config configs/ilsvrc2015/paper_size_smoke.py --data-root ROOT
#
# ROOT is any ILSVRC-layout folder; without --data-root the generator's paper_size preset (ImageNet-sized
# photos: shorter sides 281-500, aspect ratios 0.5-2.0, the real devkit's DET lists) is written to
# data/paper_size_ilsvrc on first use. tests/integration/test_paper_size_smoke.py runs exactly this.
_base_ = ['./ilsvrc2015.py']

# data.max_images keeps the first images of each split (ilsvrc_pipe/data/subset.py says which), so that a
# real ImageNet runs through every stage in minutes on a GPU node: CLS-LOC train 8 images of each of the
# 1000 classes (8,000 of 1.28M; the boxed ones among them, about two in five, train the RPN and the
# R-CNN), val 500 of 50,000 (scored against the ground truth of those 500), test 200 of 100,000; DET
# train 400 of about 456k (the first image of each of the 200 classes, then the earliest others), val1
# and val2 100 each (val: those 200), test 50 of about 51k. The submission files then hold the kept
# images alone, and a val2 of 100 images leaves many of the 200 classes without an object to score.
# The generated paper_size preset (4 classes x 8 train, 8 val, 4 test; DET 12 train, val of 6 with halves
# of 2, 2 test) is under every cap: none of it is cut.
data = dict(
    root='data/paper_size_ilsvrc',
    generate=dict(_delete_=True, preset='paper_size', seed=0),   # the base config never generates
    max_images=dict(loc_train_per_class=8, loc_val=500, loc_test=200, det_train=400, det_val=100, det_test=50),
)

cls = dict(
    models=[dict(name='resnet18', backbone=dict(depth=18))],
    train=dict(max_epochs=1, num_workers=2),
    test=dict(chunk_images=4, num_workers=2),   # val and test in several parts, decoded by 2 workers
)

rpn = dict(
    models=[dict(name='rpn_r18', init_from='resnet18')],
    train=dict(max_epochs=1, num_workers=2),
    test=dict(chunk_images=4, num_workers=2),
)

rcnn = dict(
    models=[dict(name='rcnn_r18', rpn='rpn_r18', init_from='resnet18')],
    train=dict(top_k=8, max_epochs=1, num_workers=2),   # paper: the top 200 proposals of each image
    test=dict(top_k=10, chunk_images=4, num_workers=2),  # paper: all 200 proposals of each class
)

det = dict(
    models=[
        dict(name='det_r18', init_from='resnet18'),
        dict(name='det_r18_context', init_from='resnet18', context=True, seed=1),
    ],
    train=dict(max_epochs=1, num_workers=2),
    test=dict(chunk_images=2, num_workers=2),
    rows=dict(baseline='det_r18', refine='det_r18', refine_context='det_r18_context',
              refine_context_multiscale='det_r18_context', ensemble=['det_r18', 'det_r18_context']),
)

# Full-scale ILSVRC 2015 (a real ImageNet copy), the settings of He et al., "Deep Residual Learning
# for Image Recognition" (sec. 3.4 and appendix C). Pass --data-root to the folder holding ILSVRC/
# (and, optionally, the Kaggle LOC_*.csv files beside it). Meant for a GPU cluster: train the
# classifiers with `torchrun ... tools/train.py --launcher pytorch` (mmengine DDP), then run the stages.
_base_ = ['../_base_/pipeline.py']

data = dict(
    root='data/ILSVRC2015',
    generate=None,                # never generate: a missing root is an error
    verify_images=False,          # 150k val/test images are decoded by the stages that read them
)

cls = dict(
    models=[
        # an ensemble of depths for classification; the localizers (rpn, rcnn) start from resnet101 only:
        # "we use ResNet-101 for the localization" (appendix C)
        dict(name='resnet101', backbone=dict(depth=101)),
        dict(name='resnet152', backbone=dict(depth=152), seed=1),
    ],
    train=dict(
        scale=(256, 480),   # "resized with its shorter side randomly sampled in [256, 480] for scale augmentation"
        crop=224,           # "A 224x224 crop is randomly sampled from an image or its horizontal flip"
        pca_std=0.1,        # "The standard color augmentation in [21] is used"
        batch_size=32,      # per GPU; 8 GPUs x 32 = "a mini-batch size of 256"
        lr=0.1,             # "The learning rate starts from 0.1 and is divided by 10 when the error plateaus"
        milestones=(30, 60),
        max_epochs=90,      # "the models are trained for up to 60 x 10^4 iterations"
        weight_decay=1e-4,  # "We use a weight decay of 0.0001 and a momentum of 0.9"
        num_workers=8,
        cache_images=False,
    ),
    test=dict(
        scale=256, crop=224,                        # single 224 centre crop of the 256-resized image
        dense_scales=[224, 256, 384, 480, 640],     # "average the scores at multiple scales (... {224, 256, 384, 480, 640})"
        batch_images=32,
    ),
    ensemble_mode='dense',
    log_interval=100,
)

rpn = dict(
    models=[
        dict(name='rpn_r101', init_from='resnet101'),
        dict(name='rpn_r101b', init_from='resnet101', seed=1),   # localizers are ResNet-101 only (two seeds)
    ],
    out_stage=3,            # conv5 features of the ImageNet-pretrained ResNet
    model=dict(
        anchor_scales=(64, 128, 256), anchor_ratios=(0.5, 1.0, 2.0),   # Faster R-CNN's 9 anchors
        head_channels=512,
        num_samples=8, positive_fraction=0.5,   # "we randomly sample 8 anchors for each image ... ratio of sampled positive and negative samples as 1:1"
        pos_iou=0.7, neg_iou=0.3,
        nms_iou=0.7, top_k=200,                 # "the 200 highest scored proposals per class"
    ),
    train=dict(crop=224, scale=(256, 480),      # "our RPN is trained on 224x224 crops, following [41]"
               batch_size=32, lr=0.01, milestones=(8,), max_epochs=10,   # 8 GPUs x 32 = "mini-batch size 256 images"
               num_workers=8),
    test=dict(scale=256, crop=224, dense_scales=[224, 256, 384, 480, 640]),   # "fully-convolutional" dense testing
    log_interval=100,
)

rcnn = dict(
    models=[
        dict(name='rcnn_r101', rpn='rpn_r101', init_from='resnet101'),
        dict(name='rcnn_r101b', rpn='rpn_r101b', init_from='resnet101', seed=1),
    ],
    model=dict(crop_size=224, context_pad=0, box_coder_weights=(10.0, 10.0, 5.0, 5.0)),   # "warped to 224x224"
    train=dict(
        top_k=200,          # "the top-200 proposals of each image ... for the ground truth class"
        fg_iou=0.5, bg_iou=(0.1, 0.5), fg_fraction=0.25,
        batch_size=32,      # 8 GPUs x 32 = "a mini-batch size of 256 ... RoI-centric"
        lr=0.001, milestones=(6,), max_epochs=8, num_workers=8),
    test=dict(top_k=200, batch_size=256),   # "the R-CNN updates the score and box position of each of the 200 proposals"
    log_interval=100,
)

det = dict(
    # Appendix A/B: "We use Faster R-CNN ... ResNet-101" in the C4 layout; RPN and Fast R-CNN trained
    # jointly here (approximate joint training, as torchvision/detectron2 do) rather than in the
    # 4-step alternating training of the Faster R-CNN paper: one training per detector instead of four.
    models=[
        dict(name='det_r101', init_from='resnet101'),                                   # baseline
        dict(name='det_r101_context', init_from='resnet101', context=True, seed=1),     # "global context"
        dict(name='det_r101_context_b', init_from='resnet101', context=True, seed=2),
    ],
    model=dict(
        anchor_sizes=(64, 128, 256, 512), anchor_ratios=(0.5, 1.0, 2.0),
        rpn_pre_nms_top_n=dict(training=12000, testing=6000),
        rpn_post_nms_top_n=dict(training=2000, testing=300),   # "300 proposals per image"
        rpn_batch_size=256, roi_batch_size=128,
        roi_pool='roi_pool', roi_output_size=14,   # "RoI pooling ... before conv5": 14x14 -> conv5 -> 7x7
        frozen_stages=1,                           # BN frozen everywhere ("fixed ... statistics")
    ),
    train=dict(
        splits=('train', 'val1'),     # "trained on the 200-category training set and val1 (following [8])"
        scales=(600,), max_size=1000, # "the shorter side is 600"
        batch_size=2,                 # per GPU: image-centric mini-batches, 8 GPUs x 2 images
        lr=0.02, milestones=(8,), max_epochs=10, num_workers=8, cache_images=False),
    test=dict(
        scale=600, max_size=1000,
        pyramid=(200, 400, 600, 800, 1000),   # "multi-scale ... s in {200, 400, 600, 800, 1000}" (Fast R-CNN step only)
        target_size=224,              # two adjacent scales chosen around the 224x224 training RoI size
        nms_iou=0.3,                  # "non-maximum suppression (NMS) with an IoU threshold of 0.3"
        vote_iou=0.5,                 # box voting over boxes with IoU >= 0.5
        max_per_image=100),
    rows=dict(baseline='det_r101', refine='det_r101', refine_context='det_r101_context',
              refine_context_multiscale='det_r101_context',
              ensemble=['det_r101', 'det_r101_context', 'det_r101_context_b']),   # "an ensemble of 3 models"
    log_interval=100,
)

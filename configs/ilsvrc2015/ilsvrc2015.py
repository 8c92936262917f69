# Full-scale ILSVRC 2015 (a real ImageNet copy). Pass --data-root to the folder that holds ILSVRC/
# (and, optionally, the Kaggle LOC_*.csv files beside it).
_base_ = ['../_base_/pipeline.py']
data = dict(
    root='data/ILSVRC2015',
    generate=None,                # never generate: a missing root is an error
    verify_images=False,          # 150k val/test images: decoded by the stages that read them
)

# Defaults shared by every pipeline config. Class lists and counts always come from the data root's
# own files; nothing here names a class or a dataset size.
data = dict(
    root='data/mini_ilsvrc',      # default --data-root; generated on first use when `generate` is set
    generate=dict(preset='mini', seed=0),
    verify_images=True,           # decode every val/test image once in the data stage
    skip_corrupt_images=False,    # True: a corrupt image is skipped with a logged warning
    det=True,                     # index the DET part of the tree too, when it is present
)
eval = dict(
    baselines=['full-image', 'center'],
    seed=0,                       # the class draw of the baselines' 5 guesses from the training prior
)
precision = dict(
    train='fp32',                 # 'fp32', 'bf16' or 'fp16' (a GPU only): mixed-precision training
    test='fp32',                  # 'fp32', 'bf16' or 'fp16': every inference loop and tools/predict.py
)

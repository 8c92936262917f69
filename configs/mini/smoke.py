# The tiny `smoke` preset: an end-to-end run in about a minute (used by the test suite).
_base_ = ['./pipeline.py']
data = dict(root='data/smoke_ilsvrc', generate=dict(preset='smoke', seed=0))
cls = dict(
    models=[
        dict(name='resnet18_w025', backbone=dict(depth=18, width=0.25)),
        dict(name='resnet10_w025', backbone=dict(depth=18, width=0.25), seed=1),
    ],
    train=dict(scale=(64, 88), crop=56, batch_size=16, lr=0.05, milestones=(12,), max_epochs=15),
    test=dict(scale=64, crop=56, dense_scales=[56, 64, 80]),
)

# The tiny `smoke` preset: an end-to-end run in about a minute (used by the test suite).
_base_ = ['./pipeline.py']
data = dict(root='data/smoke_ilsvrc', generate=dict(preset='smoke', seed=0))
